defmodule PelemayBackend.Test.Terms do
  @moduledoc """
  Test helpers on message terms: `complete/3` fills in what a hand-written
  term leaves out, giving the form the decoder returns.
  """

  @doc """
  `partial` with every missing key of message `type` set to its default, and
  the same done recursively to nested messages (in fields, lists and oneofs).
  """
  def complete(schema, type, partial) when is_map(partial) do
    message = Map.fetch!(schema.messages, type)

    Enum.reduce(message.fields, Map.merge(message.defaults, partial), fn field, acc ->
      case {field, Map.get(acc, field.key)} do
        {%{type: {:message, nested}, label: :repeated}, list} ->
          %{acc | field.key => Enum.map(list, &complete(schema, nested, &1))}

        {%{type: {:message, nested}, label: :oneof, name: name}, {name, value}} ->
          %{acc | field.key => {name, complete(schema, nested, value)}}

        {%{type: {:message, _}, label: :oneof}, _} ->
          acc

        {%{type: {:message, nested}}, value} when is_map(value) ->
          %{acc | field.key => complete(schema, nested, value)}

        _ ->
          acc
      end
    end)
  end

  @doc "Little-endian f32 bytes of a list of numbers."
  def f32(values), do: for(v <- values, into: <<>>, do: <<v::float-little-32>>)

  @doc "The numbers in little-endian f32 bytes."
  def from_f32(bytes), do: for(<<v::float-little-32 <- bytes>>, do: v)

  @doc "A binary as a protobuf text-format string literal (octal escapes)."
  def text_bytes(binary) do
    escaped =
      for <<byte <- binary>>, into: "" do
        "\\" <> String.pad_leading(Integer.to_string(byte, 8), 3, "0")
      end

    ~s("#{escaped}")
  end
end
