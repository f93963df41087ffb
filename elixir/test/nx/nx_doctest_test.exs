# Compiled only with Nx (PELEMAY_NX=/path/to/nx): it needs Nx's structs and docs.
if Code.ensure_loaded?(Nx) do
  defmodule PelemayBackend.NxDoctestTest do
    # Nx's own doctests, run with PelemayBackend.Backend as the default
    # backend (as Torchx and EXLA do). Needs Nx: PELEMAY_NX=/path/to/nx.
    use ExUnit.Case, async: false

    @moduletag :nx
    @moduletag :executor

    setup do
      previous = Nx.default_backend(PelemayBackend.Backend)
      on_exit(fn -> Nx.default_backend(previous) end)
      :ok
    end

    doctest Nx, except: PelemayBackend.NxConformance.doctest_exceptions()
  end
end
