defmodule PelemayBackend.Test.Gen do
  @moduledoc """
  Random values for property-style tests, driven by a compiled schema and
  the process's `:rand` state (seed it with `:rand.seed/2` for a replayable
  run). Every generated message is in decoded form: every key present, so
  `decode(encode(term)) == term`.
  """

  import Bitwise

  @int32 {-0x8000_0000, 0x7FFF_FFFF}
  @int64 {-0x8000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFFF}
  @uint32 {0, 0xFFFF_FFFF}
  @uint64 {0, 0xFFFF_FFFF_FFFF_FFFF}

  @doc "A random message `name` of `schema`, nested at most `depth` levels."
  def message(schema, name, depth \\ 3) do
    message = schema.messages[name]

    plain =
      for %{oneof: nil} = field <- message.fields, into: %{} do
        {field.name, field_value(schema, field, depth)}
      end

    Enum.reduce(message.oneofs, plain, fn {oneof, members}, acc ->
      fields = Enum.map(members, &message.by_name[&1])

      choices =
        if depth <= 0, do: Enum.reject(fields, &match?(%{type: {:message, _}}, &1)), else: fields

      value =
        if choices == [] or chance(0.2) do
          nil
        else
          field = Enum.random(choices)
          {field.name, value(schema, field.type, depth)}
        end

      Map.put(acc, oneof, value)
    end)
  end

  defp field_value(schema, %{label: :repeated, type: type}, depth) do
    if match?({:message, _}, type) and depth <= 0 do
      []
    else
      for _ <- 1..:rand.uniform(4)//1, chance(0.75), do: value(schema, type, depth)
    end
  end

  defp field_value(schema, %{label: :optional, type: type}, depth) do
    cond do
      match?({:message, _}, type) and depth <= 0 -> nil
      chance(0.4) -> nil
      true -> value(schema, type, depth)
    end
  end

  defp field_value(schema, %{type: {:message, _} = type}, depth) do
    if depth <= 0 or chance(0.4), do: nil, else: value(schema, type, depth)
  end

  defp field_value(schema, %{type: type}, depth) do
    if chance(0.3), do: default(schema, type), else: value(schema, type, depth)
  end

  defp default(schema, {:enum, enum}), do: schema.enums[enum].by_number[0]
  defp default(_schema, :bool), do: false
  defp default(_schema, t) when t in [:string, :bytes], do: ""
  defp default(_schema, t) when t in [:double, :float], do: 0.0
  defp default(_schema, _), do: 0

  @doc "A random value of a field type."
  def value(schema, {:message, name}, depth), do: message(schema, name, depth - 1)

  def value(schema, {:enum, enum}, _depth) do
    if chance(0.1) do
      Enum.random([-7, 99, 12345])
    else
      schema.enums[enum].by_name |> Map.keys() |> Enum.random()
    end
  end

  def value(_schema, type, _depth) when type in [:int32, :sint32, :sfixed32], do: int(@int32)
  def value(_schema, type, _depth) when type in [:int64, :sint64, :sfixed64], do: int(@int64)
  def value(_schema, type, _depth) when type in [:uint32, :fixed32], do: int(@uint32)
  def value(_schema, type, _depth) when type in [:uint64, :fixed64], do: int(@uint64)
  def value(_schema, :bool, _depth), do: chance(0.5)
  def value(_schema, :string, _depth), do: string()
  def value(_schema, :bytes, _depth), do: bytes(:rand.uniform(40) - 1)
  def value(_schema, :double, _depth), do: double()
  def value(_schema, :float, _depth), do: float32()

  @doc "Random bytes."
  def bytes(n), do: for(_ <- 1..n//1, into: <<>>, do: <<:rand.uniform(256) - 1>>)

  defp int({min, max}) do
    edges = [0, 1, -1, 127, 128, 255, 300, 16_383, 16_384, min, max, min + 1, max - 1]

    if chance(0.5) do
      Enum.random(Enum.filter(edges, &(&1 >= min and &1 <= max)))
    else
      # Magnitudes spread over every varint length.
      bits = :rand.uniform(64)
      v = :rand.uniform(1 <<< bits) - 1
      v = if min < 0 and chance(0.5), do: -v, else: v
      min(max(v, min), max)
    end
  end

  defp string do
    alphabet = [?a, ?z, ?0, ?\s, ?", ?\\, ?\n, 0, 0x7F, ?é, ?€, 0x1F600, 0x10FFFF]
    for _ <- 1..:rand.uniform(12)//1, into: "", do: <<Enum.random(alphabet)::utf8>>
  end

  defp double do
    case :rand.uniform(8) do
      1 -> Enum.random([0.0, -0.0, 1.0, -1.5, 1.0e300, -2.2250738585072014e-308, 5.0e-324])
      2 -> Enum.random([:infinity, :neg_infinity, :nan])
      3 -> :rand.uniform() * 1000 - 500
      _ -> from_bits(<<:rand.uniform(1 <<< 64) - 1::64>>)
    end
  end

  defp float32 do
    case :rand.uniform(6) do
      1 -> Enum.random([0.0, -0.0, 1.0, -1.5, 3.4028234663852886e38, 1.401298464324817e-45])
      2 -> Enum.random([:infinity, :neg_infinity, :nan])
      _ -> from_bits(<<:rand.uniform(1 <<< 32) - 1::32>>)
    end
  end

  defp from_bits(<<f::float-64>>), do: f
  defp from_bits(<<f::float-32>>), do: f
  defp from_bits(<<sign::1, 0x7FF::11, 0::52>>), do: inf(sign)
  defp from_bits(<<sign::1, 0xFF::8, 0::23>>), do: inf(sign)
  defp from_bits(_), do: :nan

  defp inf(0), do: :infinity
  defp inf(1), do: :neg_infinity

  @doc "True with probability `p`."
  def chance(p), do: :rand.uniform() < p
end
