defmodule PelemayBackend.Proto.PropertyTest do
  # Property-style loops with a seeded :rand (set PELEMAY_PROP_SEED to
  # replay or vary; the seed is in every failure message):
  #
  #   * random valid messages of every type round-trip;
  #   * random and mutated bytes always decode to {:ok, _} or {:error, _},
  #     never raise, and whatever decodes re-encodes to bytes that decode
  #     to the same term.
  use ExUnit.Case, async: true

  alias PelemayBackend.Proto
  alias PelemayBackend.Proto.{Error, Schema}
  alias PelemayBackend.Test.Gen

  @iterations 20_000

  setup do
    seed =
      case Integer.parse(System.get_env("PELEMAY_PROP_SEED", "")) do
        {seed, ""} -> seed
        _ -> 20_241_128
      end

    :rand.seed(:exsss, {seed, seed + 1, seed + 2})
    %{seed: seed}
  end

  test "random valid messages round-trip", %{seed: seed} do
    schema = Schema.compiled()

    for type <- Schema.messages(), _ <- 1..40 do
      term = Gen.message(schema, type)
      assert {:ok, iodata} = Proto.encode(type, term), "seed #{seed}: #{inspect(term)}"
      assert Proto.decode(type, IO.iodata_to_binary(iodata)) == {:ok, term}, "seed #{seed}"
    end
  end

  test "malformed bytes never raise, and what decodes re-encodes", %{seed: seed} do
    schema = Schema.compiled()
    types = Schema.messages()
    valid = for type <- types, _ <- 1..5, do: encode(type, Gen.message(schema, type))
    stats = %{ok: 0, error: 0}

    stats =
      Enum.reduce(1..@iterations, stats, fn i, stats ->
        bytes = malformed(valid)
        type = if rem(i, 3) == 0, do: Enum.random(types), else: Enum.random([:Request, :Response])

        result =
          try do
            Proto.decode(type, bytes)
          rescue
            exception ->
              flunk("""
              seed #{seed}, iteration #{i}: decode(#{inspect(type)}, #{inspect(bytes, limit: :infinity)}) raised
              #{Exception.format(:error, exception, __STACKTRACE__)}
              """)
          end

        case result do
          {:ok, term} ->
            assert {:ok, iodata} = Proto.encode(type, term),
                   "seed #{seed}, iteration #{i}: #{inspect(term)} does not re-encode"

            assert Proto.decode(type, IO.iodata_to_binary(iodata)) == {:ok, term},
                   "seed #{seed}, iteration #{i}: #{inspect(bytes, limit: :infinity)}"

            %{stats | ok: stats.ok + 1}

          {:error, %Error{op: :decode}} ->
            %{stats | error: stats.error + 1}

          other ->
            flunk("seed #{seed}, iteration #{i}: unexpected #{inspect(other)}")
        end
      end)

    # The mutations must exercise both outcomes, or the loop tests little.
    assert stats.ok > @iterations / 20, inspect(stats)
    assert stats.error > @iterations / 5, inspect(stats)
  end

  defp encode(type, term), do: type |> Proto.encode!(term) |> IO.iodata_to_binary()

  defp malformed(valid) do
    base = Enum.random(valid)

    case :rand.uniform(9) do
      1 ->
        Gen.bytes(:rand.uniform(64) - 1)

      2 ->
        truncate(base)

      3 ->
        flip(base)

      4 ->
        insert(base, Gen.bytes(:rand.uniform(8)))

      5 ->
        base <> Gen.bytes(:rand.uniform(8))

      6 ->
        overwrite(
          base,
          Enum.random([<<0xFF>>, <<0x80>>, <<0x7F>>, <<0>>, <<0xFF, 0xFF, 0xFF, 0xFF, 0x0F>>])
        )

      7 ->
        base <> Enum.random(valid)

      8 ->
        flip(flip(truncate(base <> Enum.random(valid))))

      9 ->
        Enum.random(valid) |> insert(<<0x0A>> <> <<byte_size(base)>> <> base)
    end
  end

  defp truncate(""), do: ""
  defp truncate(bin), do: binary_part(bin, 0, :rand.uniform(byte_size(bin)) - 1)

  defp flip(""), do: ""

  defp flip(bin) do
    at = :rand.uniform(byte_size(bin)) - 1
    <<before::binary-size(at), byte, rest::binary>> = bin
    <<before::binary, Bitwise.bxor(byte, Bitwise.bsl(1, :rand.uniform(8) - 1))::8, rest::binary>>
  end

  defp insert(bin, extra) do
    at = :rand.uniform(byte_size(bin) + 1) - 1
    <<before::binary-size(at), rest::binary>> = bin
    before <> extra <> rest
  end

  defp overwrite("", extra), do: extra

  defp overwrite(bin, extra) do
    at = :rand.uniform(byte_size(bin)) - 1
    <<before::binary-size(at), _, rest::binary>> = bin
    before <> extra <> rest
  end
end
