defmodule PelemayBackend.Native do
  @moduledoc """
  Where the executor program is.

  `mix compile` builds it from the C++ sources with CMake and installs it as
  `priv/pelemay_executor` (see `Mix.Tasks.Compile.PelemayExecutor`).
  """

  @binary "pelemay_executor"

  @doc """
  The path of the executor binary to start, the first of:

    1. the application environment `config :pelemay_backend, executor_path: path`;
    2. the environment variable `PELEMAY_EXECUTOR_PATH` (also honoured by the
       compiler, which then builds nothing);
    3. `priv/pelemay_executor` of the `:pelemay_backend` application.
  """
  @spec executor_path() :: Path.t()
  def executor_path do
    case Application.get_env(:pelemay_backend, :executor_path) do
      path when is_binary(path) and path != "" ->
        path

      _ ->
        case System.get_env("PELEMAY_EXECUTOR_PATH") do
          path when is_binary(path) and path != "" -> Path.expand(path)
          _ -> priv_executor_path()
        end
    end
  end

  @doc "The path of the executor installed in the application's priv directory."
  @spec priv_executor_path() :: Path.t()
  def priv_executor_path do
    case :code.priv_dir(:pelemay_backend) do
      {:error, _} ->
        # Not loaded as an application (e.g. a bare script): next to the code.
        Path.expand("../../priv/#{@binary}", __DIR__)

      dir ->
        Path.join(List.to_string(dir), @binary)
    end
  end
end
