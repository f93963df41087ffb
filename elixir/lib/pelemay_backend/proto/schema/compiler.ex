defmodule PelemayBackend.Proto.Schema.Compiler do
  @moduledoc """
  Turns a schema definition (the format of `PelemayBackend.Proto.Schema`)
  into the lookup structure that `PelemayBackend.Proto.Wire` reads.
  """

  import Bitwise

  alias PelemayBackend.Proto.Wire

  @scalar_types ~w(double float int32 int64 uint32 uint64 sint32 sint64
                   fixed32 fixed64 sfixed32 sfixed64 bool string bytes)a

  @doc """
  Checks a definition and compiles it:

      %{
        messages: %{name => %{name:, fields:, by_number:, by_name:, keys:, key_list:,
                               oneofs:, oneof_list:, repeated:, defaults:}},
        enums: %{name => %{name:, by_name: %{atom => integer}, by_number: %{integer => atom}}}
      }

  `fields` are sorted by number; each is a map with `number`, `name`, `type`,
  `label` (`:singular`, `:optional`, `:repeated` or `:oneof`), `oneof` (its
  group or nil), `key` (the key in the message map: the oneof's name or the
  field's), `wire_type`, `packed`, the precomputed `tag`/`packed_tag`, and
  `implicit_default`: the value a singular scalar or enum field is not sent
  with (nil for other fields; the codec compares floats by their bits). `oneof_list` is `oneofs` as a list of `{oneof, members}`;
  `repeated` lists the names of repeated fields (which decoding reverses).

  Raises `ArgumentError` on an inconsistent definition: a duplicate number or
  name, a reference to an unknown message or enum, an unknown type or label,
  an enum without a zero value.
  """
  @spec compile(%{messages: list(), enums: list()}) :: map()
  def compile(%{messages: messages, enums: enums}) do
    check_unique!(Enum.map(enums, &elem(&1, 0)) ++ Enum.map(messages, &elem(&1, 0)), "type name")
    enum_map = Map.new(enums, fn {name, values} -> {name, compile_enum(name, values)} end)
    message_names = MapSet.new(messages, &elem(&1, 0))

    message_map =
      Map.new(messages, fn {name, fields} ->
        {name, compile_message(name, fields, enum_map, message_names)}
      end)

    %{messages: message_map, enums: enum_map}
  end

  defp compile_enum(name, values) do
    check_unique!(Enum.map(values, &elem(&1, 0)), "value name in enum #{inspect(name)}")

    Enum.each(values, fn
      {value, number} when is_atom(value) and is_integer(number) -> :ok
      other -> raise ArgumentError, "enum #{inspect(name)}: bad value #{inspect(other)}"
    end)

    # With aliases (allow_alias), the first name of a number wins, as in protoc.
    by_number = values |> Enum.reverse() |> Map.new(fn {value, number} -> {number, value} end)

    unless Map.has_key?(by_number, 0) do
      raise ArgumentError, "enum #{inspect(name)} has no zero value"
    end

    %{name: name, by_name: Map.new(values), by_number: by_number}
  end

  defp compile_message(name, fields, enums, messages) do
    check_unique!(Enum.map(fields, &elem(&1, 0)), "field number in message #{inspect(name)}")
    check_unique!(Enum.map(fields, &elem(&1, 1)), "field name in message #{inspect(name)}")

    fields =
      fields
      |> Enum.sort_by(&elem(&1, 0))
      |> Enum.map(&compile_field(name, &1, enums, messages))

    oneofs =
      fields
      |> Enum.filter(& &1.oneof)
      |> Enum.group_by(& &1.oneof, & &1.name)

    non_oneof_names = for f <- fields, !f.oneof, do: f.name

    Enum.each(Map.keys(oneofs), fn oneof ->
      if oneof in non_oneof_names do
        raise ArgumentError, "message #{inspect(name)}: oneof #{oneof} clashes with a field"
      end
    end)

    keys = fields |> Enum.map(& &1.key) |> Enum.uniq()

    %{
      name: name,
      fields: fields,
      by_number: Map.new(fields, &{&1.number, &1}),
      by_name: Map.new(fields, &{&1.name, &1}),
      keys: MapSet.new(keys),
      key_list: keys,
      oneofs: oneofs,
      oneof_list: Enum.sort(oneofs),
      repeated: for(%{label: :repeated, name: n} <- fields, do: n),
      defaults: Map.new(fields, &{&1.key, default(&1, enums)})
    }
  end

  defp compile_field(message, {number, name, type, label}, enums, messages)
       when is_integer(number) and number >= 1 and number <= 536_870_911 and is_atom(name) do
    case type do
      {:enum, enum} ->
        Map.has_key?(enums, enum) ||
          raise ArgumentError, "#{inspect(message)}.#{name}: unknown enum #{inspect(enum)}"

      {:message, msg} ->
        MapSet.member?(messages, msg) ||
          raise ArgumentError, "#{inspect(message)}.#{name}: unknown message #{inspect(msg)}"

      scalar when scalar in @scalar_types ->
        true

      other ->
        raise ArgumentError, "#{inspect(message)}.#{name}: unknown type #{inspect(other)}"
    end

    {label, oneof} =
      case label do
        l when l in [:singular, :optional, :repeated] ->
          {l, nil}

        {:oneof, oneof} when is_atom(oneof) ->
          {:oneof, oneof}

        other ->
          raise ArgumentError, "#{inspect(message)}.#{name}: unknown label #{inspect(other)}"
      end

    wire_type = Wire.wire_type(type)

    implicit_default =
      case {label, type} do
        {:singular, {:message, _}} -> nil
        {:singular, _} -> default(%{label: :singular, type: type}, enums)
        _ -> nil
      end

    %{
      number: number,
      name: name,
      type: type,
      label: label,
      oneof: oneof,
      key: oneof || name,
      wire_type: wire_type,
      packed: label == :repeated and wire_type != 2,
      tag: Wire.encode_varint(number <<< 3 ||| wire_type),
      packed_tag: Wire.encode_varint(number <<< 3 ||| 2),
      implicit_default: implicit_default
    }
  end

  defp compile_field(message, field, _enums, _messages) do
    raise ArgumentError, "message #{inspect(message)}: bad field #{inspect(field)}"
  end

  # What decoding fills in for a field that is absent.
  defp default(%{label: :repeated}, _), do: []
  defp default(%{label: :optional}, _), do: nil
  defp default(%{label: :oneof}, _), do: nil
  defp default(%{type: {:message, _}}, _), do: nil
  defp default(%{type: {:enum, enum}}, enums), do: enums[enum].by_number[0]
  defp default(%{type: :bool}, _), do: false
  defp default(%{type: t}, _) when t in [:string, :bytes], do: ""
  defp default(%{type: t}, _) when t in [:double, :float], do: 0.0
  defp default(_, _), do: 0

  defp check_unique!(list, what) do
    case list -- Enum.uniq(list) do
      [] -> :ok
      [dup | _] -> raise ArgumentError, "duplicate #{what}: #{inspect(dup)}"
    end
  end
end
