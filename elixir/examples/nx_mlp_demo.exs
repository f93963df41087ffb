# A two-layer MLP forward pass with PelemayBackend.Backend as Nx's default
# backend, checked against Nx.BinaryBackend, with an executor crashed on
# purpose in the middle: the result is still right. Needs Nx; run by
# scripts/demo when PELEMAY_NX points at an Nx checkout:
#   cd elixir && PELEMAY_NX=/path/to/nx mix run --no-start examples/nx_mlp_demo.exs
Application.put_env(:pelemay_backend, :start_pool, false)
{:ok, _} = Application.ensure_all_started(:pelemay_backend)

alias PelemayBackend.{Backend, Executor, Pool}

{:ok, _} = Pool.start_link(name: :mlp_pool, size: 2, executor_args: ["--enable-fault-injection"])

Stream.repeatedly(fn -> length(Pool.executors(:mlp_pool)) end)
|> Enum.find(fn n -> n >= 2 or (Process.sleep(20) && false) end)

Nx.default_backend({Backend, pool: :mlp_pool})

# Generated data and weights: 256 samples of 64 features, 32 hidden units,
# 10 classes. The same numbers on both backends.
key = fn shape, seed ->
  n = Tuple.product(shape)
  Nx.iota({n}, type: :f32) |> Nx.multiply(seed) |> Nx.sin() |> Nx.reshape(shape)
end

forward = fn x, w1, b1, w2, b2 ->
  x
  |> Nx.dot(w1)
  |> Nx.add(b1)
  |> Nx.max(0)
  |> Nx.dot(w2)
  |> Nx.add(b2)
  |> then(fn logits ->
    exps = Nx.exp(Nx.subtract(logits, Nx.reduce_max(logits, axes: [1], keep_axes: true)))
    Nx.divide(exps, Nx.sum(exps, axes: [1], keep_axes: true))
  end)
end

params = [
  key.({256, 64}, 0.37),
  key.({64, 32}, 0.11),
  key.({32}, 0.5),
  key.({32, 10}, 0.23),
  key.({10}, 0.9)
]

{us, probs} = :timer.tc(fn -> apply(forward, params) end)

IO.puts(
  "forward pass on #{inspect(probs.data.__struct__)}: #{div(us, 1000)} ms, result #{inspect(probs.type)} #{inspect(probs.shape)}"
)

reference = apply(forward, Enum.map(params, &Nx.backend_copy(&1, Nx.BinaryBackend)))

same? = fn a, b ->
  Nx.all_close(Nx.backend_copy(a, Nx.BinaryBackend), b, atol: 1.0e-5) |> Nx.to_number() == 1
end

IO.puts("matches Nx.BinaryBackend (atol 1e-5): #{same?.(probs, reference)}")

IO.puts(
  "predicted classes of the first 8 samples: #{inspect(probs |> Nx.argmax(axis: 1) |> Nx.slice([0], [8]) |> Nx.to_flat_list())}"
)

# Crash one executor inside its next run, then run the forward pass again.
before = Enum.map(Pool.executors(:mlp_pool), & &1.os_pid)
[%{pid: victim, os_pid: victim_os} | _] = Pool.executors(:mlp_pool)
{:ok, _} = Executor.inject_fault(victim, %{kind: :SEGFAULT, when: :DURING_NEXT_RUN})

IO.puts(
  "armed a SEGFAULT inside the next run of executor #{victim_os} (executors: #{inspect(before)})"
)

# Passes run from a few processes at once, so both executors get work;
# again until the armed one has died under one of them.
again =
  Enum.reduce_while(1..50, nil, fn _, _ ->
    results =
      1..4
      |> Enum.map(fn _ ->
        Task.async(fn ->
          Nx.default_backend({Backend, pool: :mlp_pool})
          apply(forward, params)
        end)
      end)
      |> Enum.map(&Task.await/1)

    if Enum.all?(results, &same?.(&1, reference)) do
      if victim_os in Enum.map(Pool.executors(:mlp_pool), & &1.os_pid),
        do: {:cont, hd(results)},
        else: {:halt, hd(results)}
    else
      {:halt, :wrong}
    end
  end)

Process.sleep(200)
{:ok, status} = Pool.status(:mlp_pool)

IO.puts(
  "after the crash: every pass matched Nx.BinaryBackend: #{again != :wrong}; retried requests: #{status.retried_requests}; executors now: #{inspect(Enum.map(Pool.executors(:mlp_pool), & &1.os_pid))}"
)
