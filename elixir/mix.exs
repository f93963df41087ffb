# The compiler that builds the C++ executor is part of this project, but Mix
# needs it before this project's own modules are compiled, so it is loaded
# here (and left out of elixirc_paths below, so it is not compiled twice).
Code.require_file("lib/mix/tasks/compile.pelemay_executor.ex", __DIR__)

defmodule PelemayBackend.MixProject do
  use Mix.Project

  @version "0.1.0"

  # Where Nx comes from, chosen by the environment variable PELEMAY_NX:
  #
  #   unset (or empty)  {:nx, "~> 0.7"} from Hex: what users get
  #   "none"            no Nx and no dependencies at all: the port layer, codec,
  #                     program building and pool build and test without Hex
  #   anything else     {:nx, path: PELEMAY_NX}: a local Nx checkout
  #
  # Code tests for Nx with `Code.ensure_loaded?(Nx)`; modules that need Nx live
  # under lib/pelemay_backend/nx/ and are not compiled when it is absent.
  @nx_source (case System.get_env("PELEMAY_NX") do
                nil -> :hex
                "" -> :hex
                "none" -> :none
                path -> {:path, path}
              end)

  def project do
    [
      app: :pelemay_backend,
      version: @version,
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      compilers: [:pelemay_executor] ++ Mix.compilers(),
      elixirc_paths: elixirc_paths(Mix.env()),
      deps: deps(),
      pelemay_nx: @nx_source,
      description:
        "A fault-tolerant Nx backend whose numerical work runs in a sandboxed C++ executor"
    ]
  end

  def application do
    [extra_applications: [:logger], mod: {PelemayBackend.Application, []}]
  end

  @doc "Where Nx comes from: `:hex`, `:none` or `{:path, path}` (see PELEMAY_NX)."
  def nx_source, do: @nx_source

  defp deps do
    case @nx_source do
      :hex -> [{:nx, "~> 0.7"}]
      :none -> []
      {:path, path} -> [{:nx, path: path}]
    end
  end

  defp elixirc_paths(:test), do: lib_files() ++ ["test/support"]
  defp elixirc_paths(_), do: lib_files()

  # Every .ex file under lib/, less the executor compiler (loaded above) and,
  # without Nx, the Nx-dependent modules.
  defp lib_files do
    Path.wildcard(Path.join(__DIR__, "lib/**/*.ex"))
    |> Enum.map(&Path.relative_to(&1, __DIR__))
    |> Enum.reject(fn file ->
      file == "lib/mix/tasks/compile.pelemay_executor.ex" or
        (@nx_source == :none and String.starts_with?(file, "lib/pelemay_backend/nx/"))
    end)
    |> Enum.sort()
  end
end
