# Computations through a pool of executors while one of them is crashed on
# purpose in the middle of a run: the answers still arrive, the crash shows
# up only as a log line and a restart. Run by scripts/demo:
#   cd elixir && PELEMAY_NX=none mix run --no-start examples/crash_demo.exs
Application.put_env(:pelemay_backend, :start_pool, false)
{:ok, _} = Application.ensure_all_started(:pelemay_backend)

alias PelemayBackend.{Executor, Pool}

{:ok, _} = Pool.start_link(name: :demo_pool, size: 2, executor_args: ["--enable-fault-injection"])

wait = fn wait, n ->
  if length(Pool.executors(:demo_pool)) >= 2 or n == 0,
    do: :ok,
    else:
      (
        Process.sleep(20)
        wait.(wait, n - 1)
      )
end

wait.(wait, 250)

type = %{dtype: :DTYPE_F32, shape: [3]}

program = %{
  inputs: [type, type],
  instructions: [%{op: "multiply", operands: [0, 1], result: type}],
  outputs: [2]
}

tensor = fn values ->
  %{
    dtype: :DTYPE_F32,
    shape: [3],
    payload: {:data, for(v <- values, into: <<>>, do: <<v::float-32-little>>)}
  }
end

values = fn %{payload: {:data, bytes}} -> for <<v::float-32-little <- bytes>>, do: v end

pids = fn -> Enum.map(Pool.executors(:demo_pool), & &1.os_pid) end

IO.puts("executor OS pids: #{inspect(pids.())}")

for i <- 1..6 do
  if i == 3 do
    [%{pid: victim} | _] = Pool.executors(:demo_pool)
    {:ok, _} = Executor.inject_fault(victim, %{kind: :SEGFAULT, when: :DURING_NEXT_RUN})
    IO.puts("armed a SEGFAULT inside the next run of one executor")
  end

  {:ok, [out]} =
    PelemayBackend.run(program, [tensor.([i, i, i]), tensor.([1.0, 2.0, 3.0])], pool: :demo_pool)

  IO.puts("request #{i}: #{inspect(values.(out))}")
end

Process.sleep(1000)

IO.puts(
  "executor OS pids now: #{inspect(pids.())} (a crashed one was replaced; every answer above is right)"
)
