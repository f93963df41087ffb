defmodule PelemayBackend.Proto.Error do
  @moduledoc """
  Why a message could not be encoded or decoded.

    * `op` - `:encode` or `:decode`
    * `type` - the top-level message name (e.g. `:Request`)
    * `path` - the field names from the top-level message down to the
      offending field, e.g. `[:run, :program, :instructions, :attrs]`
    * `reason` - a term, e.g. `:truncated_varint`, `:varint_too_long`,
      `{:length_past_end, length, available}`, `{:invalid_wire_type, 7}`,
      `{:unknown_field, :foo}`, `{:invalid_value, :uint32, -1}`

  Returned as `{:error, %PelemayBackend.Proto.Error{}}` by
  `PelemayBackend.Proto.encode/2` and `decode/2`, raised by the bang variants.
  """
  defexception op: nil, type: nil, path: [], reason: nil

  @type t :: %__MODULE__{
          op: :encode | :decode,
          type: atom(),
          path: [atom()],
          reason: term()
        }

  @impl true
  def message(%__MODULE__{op: op, type: type, path: path, reason: reason}) do
    where =
      case path do
        [] -> ""
        _ -> " at " <> Enum.map_join(path, ".", &to_string/1)
      end

    "cannot #{op} #{type}#{where}: #{format_reason(reason)}"
  end

  # :truncated_varint -> "truncated varint";
  # {:length_past_end, 5, 1} -> "length past end 5, 1"
  defp format_reason(reason) when is_atom(reason), do: words(reason)

  defp format_reason(reason) when is_tuple(reason) and is_atom(elem(reason, 0)) do
    [kind | details] = Tuple.to_list(reason)
    words(kind) <> " " <> Enum.map_join(details, ", ", &inspect/1)
  end

  defp format_reason(reason), do: inspect(reason)

  defp words(atom), do: atom |> Atom.to_string() |> String.replace("_", " ")
end
