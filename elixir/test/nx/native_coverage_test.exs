if PelemayBackend.nx_available?() do
  defmodule PelemayBackend.Nx.NativeCoverageTest do
    # Which calls really run in the executor. An optional callback this
    # backend leaves to Nx's default implementation counts as native only
    # when no step of that implementation falls back to Nx.BinaryBackend: each
    # one is called here with the fallback telemetry event attached, and
    # docs/ops.md must name exactly the steps that fell back.
    use ExUnit.Case, async: false

    alias PelemayBackend.Backend

    @moduletag :nx

    setup do
      previous = Nx.default_backend(Backend)
      on_exit(fn -> Nx.default_backend(previous) end)
      :ok
    end

    # One call of each optional callback Nx 0.7 may leave to its default.
    defp sample(:all_close), do: Nx.all_close(Nx.tensor([1.0, 2.0]), Nx.tensor([1.0, 2.0000001]))
    defp sample(:cholesky), do: Nx.LinAlg.cholesky(spd())
    defp sample(:cumulative_sum), do: Nx.cumulative_sum(Nx.tensor([[1, 2], [3, 4]]), axis: 1)

    defp sample(:cumulative_product),
      do: Nx.cumulative_product(Nx.tensor([1.0, 2.0, 3.0]), reverse: true)

    defp sample(:cumulative_min), do: Nx.cumulative_min(Nx.tensor([3, 1, 2]))
    defp sample(:cumulative_max), do: Nx.cumulative_max(Nx.tensor([1.0, 3.0, 2.0]))
    defp sample(:determinant), do: Nx.LinAlg.determinant(spd())
    defp sample(:eigh), do: Nx.LinAlg.eigh(spd())
    defp sample(:fft2), do: Nx.fft2(Nx.iota({2, 4}, type: :c64))
    defp sample(:ifft2), do: Nx.ifft2(Nx.iota({2, 4}, type: :c64))
    defp sample(:phase), do: Nx.phase(Nx.tensor([Complex.new(1.0, 1.0), Complex.new(-1.0, 0.0)]))
    defp sample(:qr), do: Nx.LinAlg.qr(spd())
    defp sample(:solve), do: Nx.LinAlg.solve(spd(), Nx.tensor([1.0, 2.0, 3.0]))
    defp sample(:svd), do: Nx.LinAlg.svd(spd())
    defp sample(:top_k), do: Nx.top_k(Nx.tensor([3.0, 1.0, 4.0, 1.5]), k: 2)

    defp spd, do: Nx.tensor([[4.0, 1.0, 0.5], [1.0, 3.0, 0.25], [0.5, 0.25, 2.0]])

    # The callbacks that fell back while `fun` ran, sorted, without repeats.
    defp fallbacks_in(fun) do
      id = {__MODULE__, make_ref()}
      :ok = :telemetry.attach(id, [:pelemay_backend, :fallback], &__MODULE__.fallback/4, self())

      try do
        fun.()
      after
        :telemetry.detach(id)
      end

      collect([])
    end

    # The telemetry handler: tells the test process which callback fell back.
    def fallback(_event, _measurements, %{callback: name}, test),
      do: send(test, {:fallback, name})

    defp collect(acc) do
      receive do
        {:fallback, name} -> collect([name | acc])
      after
        0 -> acc |> Enum.uniq() |> Enum.sort()
      end
    end

    defp default_row([]), do: "Nx default implementation, every step native"

    defp default_row(steps),
      do:
        "Nx default implementation; steps that fall back: " <>
          Enum.map_join(steps, ", ", &"`#{&1}`")

    test "a fallback emits the telemetry event, a native call does not" do
      assert fallbacks_in(fn -> Nx.add(Nx.tensor([1]), 2) end) == []

      assert fallbacks_in(fn -> Nx.map(Nx.tensor([1, 2]), &Nx.add(&1, 1)) end) == [:map]
    end

    test "docs/ops.md names exactly the fallback steps of each Nx default implementation" do
      doc = File.read!(Path.expand("../../../docs/ops.md", __DIR__))
      [_, table] = String.split(doc, "## Nx backend callbacks", parts: 2)

      wrong =
        for name <- Backend.nx_default_callbacks(),
            observed = fallbacks_in(fn -> sample(name) end),
            row = "| `#{name}` | #{default_row(observed)} |",
            not String.contains?(table, row),
            do: row

      assert wrong == [], "docs/ops.md should have these rows:\n" <> Enum.join(wrong, "\n")
    end
  end
end
