defmodule PelemayBackend do
  @moduledoc """
  A fault-tolerant Nx backend whose numerical work runs in a separate,
  sandboxed C++ process: the executor (see `PelemayBackend.Native`).

  Everything that crosses the process boundary is a protobuf message of
  `proto/pelemay.proto`, encoded and decoded by `PelemayBackend.Proto`.

  Nx is optional at build time (the `PELEMAY_NX` switch in `mix.exs`): the
  modules under `lib/pelemay_backend/nx/` are compiled only when it is present.
  Code that may run without Nx checks `nx_available?/0`, which is
  `Code.ensure_loaded?(Nx)`.

  ## Running programs

  `run/3` sends a program to an executor of a pool of supervised executors
  (`PelemayBackend.Pool`; the application starts the default one, see
  `PelemayBackend.Application`). A native crash only kills that executor: the
  request is retried once on a fresh one, and a request that crashes
  executors twice gets a typed `PelemayBackend.Error`:

      program = %{
        inputs: [%{dtype: :DTYPE_F32, shape: [2]}, %{dtype: :DTYPE_F32, shape: [2]}],
        instructions: [%{op: "add", operands: [0, 1], result: %{dtype: :DTYPE_F32, shape: [2]}}],
        outputs: [2]
      }

      a = %{dtype: :DTYPE_F32, shape: [2], payload: {:data, <<1.0::float-32-little, 2.0::float-32-little>>}}
      {:ok, [%{payload: {:data, bytes}}]} = PelemayBackend.run(program, [a, a], timeout: 5_000)

  Errors are `{:error, %PelemayBackend.Error{code: code}}`, `code` being one
  of the executor's (`:invalid_argument`, `:unsupported`,
  `:resource_exhausted`, `:cancelled`, `:deadline_exceeded`, `:internal`,
  `:not_found`) or the port layer's (`:executor_crashed`, `:timeout`,
  `:unavailable`).
  """

  alias PelemayBackend.Pool

  @doc "Whether Nx is available in this build."
  @spec nx_available?() :: boolean()
  def nx_available?, do: Code.ensure_loaded?(Nx)

  @doc """
  Runs `program` (a `pelemay.v1.Program` map, or a
  `PelemayBackend.Program.Prepared` one, which each executor compiles once
  and runs by id afterwards) on `inputs` (a list of `pelemay.v1.Tensor`
  maps) and returns `{:ok, outputs}` (Tensor maps) or
  `{:error, %PelemayBackend.Error{}}`.

  Options: `:pool` (default `PelemayBackend.Pool`), `:timeout` (ms, default
  60 000, retries included), `:retries` (default 1), `:await_spin_us` (how
  long the caller polls for the reply before blocking, see
  `PelemayBackend.AwaitSpin`), `:fault` (tests only); see
  `PelemayBackend.Pool.run/4`.
  """
  @spec run(map(), [map()], keyword()) :: {:ok, [map()]} | {:error, PelemayBackend.Error.t()}
  def run(program, inputs, opts \\ []) do
    {pool, opts} = Keyword.pop(opts, :pool, Pool)
    Pool.run(pool, program, inputs, opts)
  end

  @doc "As `run/3`, but returns the outputs or raises `PelemayBackend.Error`."
  @spec run!(map(), [map()], keyword()) :: [map()]
  def run!(program, inputs, opts \\ []) do
    case run(program, inputs, opts) do
      {:ok, outputs} -> outputs
      {:error, error} -> raise error
    end
  end

  @doc """
  Submits a run without waiting (options as `run/3`): `{:ok, request}` for
  `await/1` or `cancel/1`, to be called by this same process.
  """
  @spec run_async(map(), [map()], keyword()) ::
          {:ok, Pool.Request.t()} | {:error, PelemayBackend.Error.t()}
  def run_async(program, inputs, opts \\ []) do
    {pool, opts} = Keyword.pop(opts, :pool, Pool)
    Pool.run_async(pool, program, inputs, opts)
  end

  @doc "Waits for a request of `run_async/3`, with its retries: as `run/3`."
  @spec await(Pool.Request.t()) :: {:ok, [map()]} | {:error, PelemayBackend.Error.t()}
  defdelegate await(request), to: Pool

  @doc """
  Cancels a request of `run_async/3`. Returns `{:error, %PelemayBackend.Error{code:
  :cancelled}}`, or `{:ok, outputs}` if it had finished before the cancel.
  """
  @spec cancel(Pool.Request.t()) :: {:ok, [map()]} | {:error, PelemayBackend.Error.t()}
  defdelegate cancel(request), to: Pool
end
