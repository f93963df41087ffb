defmodule PelemayBackend.Chaos do
  @moduledoc """
  A chaos run against a pool of executors started with
  `--enable-fault-injection` (used by `mix pelemay.chaos` and
  test/port_layer/chaos_test.exs).

  A stream of small real computations (add / multiply / sum of random s32
  and f32 vectors, each result checked against the value computed here) is
  sent from several concurrent tasks while:

    * a fraction (`:fault_rate`) of the requests are *poisoned*: each
      carries a random fault (`SEGFAULT`, `ABORT`, `EXIT`, `HANG`,
      `ALLOCATE`, `GARBAGE_REPLY`, `TRUNCATED_REPLY`, `SLOW`; `when: NOW`,
      before its first instruction, or `DURING_NEXT_RUN`, after it) that
      fires inside its own run on whichever executor runs it, on every
      attempt (the `:fault` option of `PelemayBackend.Pool.run/4`; a HANG
      request gets the shorter `:hang_timeout`, so its executor is killed
      and replaced before the bystanders queued behind it run out of time).
      A typed error is acceptable for a poisoned request; an error of any
      other request is *collateral*, and fails the run;
    * a killer process SIGKILLs a random executor OS pid from outside at
      random intervals.

  `run/1` returns a map of counters (see `report/1`): requests ok, wrong
  results, errors by code (poisoned or collateral), faults by kind, kills,
  executor OS pids seen (restarts), latency, time-to-recover (from each kill
  or fatal fault to the next successful request on the pool, p50/p99) and
  requests that resolved past their deadline. `acceptable?/1` says whether
  the run met the acceptance criteria: no wrong result, no collateral error,
  every request resolved within its deadline, pool alive and answering.
  """

  alias PelemayBackend.{Error, Pool}

  @fault_kinds [
    :SEGFAULT,
    :ABORT,
    :EXIT,
    :HANG,
    :ALLOCATE,
    :GARBAGE_REPLY,
    :TRUNCATED_REPLY,
    :SLOW
  ]
  @fatal_kinds [:SEGFAULT, :ABORT, :EXIT, :HANG, :GARBAGE_REPLY, :TRUNCATED_REPLY]
  # How much later than its deadline a request may resolve (scheduling slack).
  @deadline_slack_ms 250

  @defaults [
    requests: 2_000,
    fault_rate: 0.05,
    seed: 1,
    pool_size: 4,
    concurrency: 8,
    timeout: 3_000,
    hang_timeout: 1_000,
    kill_interval: {50, 400},
    max_len: 64,
    memory_budget: "64M",
    shared_mem: false
  ]

  @doc """
  Runs the chaos stream and returns its statistics.

  Options (defaults in brackets): `:requests` [2000], `:fault_rate` [0.05],
  `:seed` [1], `:pool_size` [4], `:concurrency` (tasks) [8], `:timeout` (ms
  per request) [3000], `:hang_timeout` (ms, poisoned HANG requests) [1000],
  `:kill_interval` ({min, max} ms between SIGKILLs, `nil` for no killer)
  [{50, 400}], `:max_len` (vector length) [64], `:memory_budget` ["64M"],
  `:executor_path`, `:shared_mem` [false]: every tensor goes through the
  executors' shared-memory arenas (threshold 0, 4 MiB arenas in a directory
  of the run's own); the report then counts the arena files left after the
  pool stopped, and any left fails the run.
  """
  @spec run(keyword()) :: map()
  def run(opts \\ []) do
    opts = Keyword.merge(@defaults, opts)
    pool = :"pelemay_chaos_pool_#{System.unique_integer([:positive])}"
    size = opts[:pool_size]

    pool_opts =
      [
        name: pool,
        size: size,
        executor_args: ["--enable-fault-injection"],
        memory_budget: opts[:memory_budget],
        # Chaos tests recovery, not the circuit breaker: the killer alone
        # would trip the default restart intensity.
        max_crashes: 1_000_000,
        crash_period: 1_000,
        restart_backoff: {5, 100}
      ] ++ Keyword.take(opts, [:executor_path])

    arena_dir =
      if opts[:shared_mem] do
        dir =
          Path.join(
            PelemayBackend.Arena.default_dir(),
            "pelemay-chaos-#{System.unique_integer([:positive])}"
          )

        File.mkdir_p!(dir)
        dir
      end

    pool_opts =
      if arena_dir,
        do: pool_opts ++ [arena_dir: arena_dir, arena_size: 4 * 1024 * 1024, arena_threshold: 0],
        else: pool_opts

    {:ok, sup} = Pool.start_link(pool_opts)
    Process.unlink(sup)
    wait_ready(pool, size, 10_000)

    events = :ets.new(:chaos_events, [:public, :bag, write_concurrency: true])
    seen_pids = :ets.new(:chaos_pids, [:public, :set])
    stop = :atomics.new(1, [])
    next = :atomics.new(1, [])
    started = now()

    sampler = spawn_link(fn -> sample_pids(pool, seen_pids, stop) end)

    killer =
      case opts[:kill_interval] do
        nil -> nil
        interval -> spawn_link(fn -> kill_loop(pool, events, stop, interval, opts[:seed]) end)
      end

    results =
      1..opts[:concurrency]
      |> Enum.map(fn _ -> Task.async(fn -> worker(pool, next, opts, events) end) end)
      |> Enum.flat_map(&Task.await(&1, :infinity))

    :atomics.put(stop, 1, 1)
    if killer, do: wait_exit(killer)
    wait_exit(sampler)
    elapsed = now() - started

    # After the storm: the pool must be alive and answer correctly.
    health = health_check(pool, size)
    arenas_mapped = if arena_dir, do: arenas_mapped(pool)
    {:ok, pool_status} = Pool.status(pool)
    pool_alive = Process.alive?(sup)
    Supervisor.stop(sup)

    # Arena files left behind once the pool stopped (nil: shared memory off).
    arena_files_left =
      if arena_dir do
        left = length(File.ls!(arena_dir))
        File.rm_rf!(arena_dir)
        left
      end

    summarize(
      results,
      :ets.tab2list(events),
      :ets.info(seen_pids, :size),
      size,
      elapsed,
      health,
      pool_alive,
      pool_status,
      opts
    )
    |> Map.merge(%{arena_files_left: arena_files_left, arenas_mapped: arenas_mapped})
    |> tap(fn _ ->
      :ets.delete(events)
      :ets.delete(seen_pids)
    end)
  end

  ## Workers

  defp worker(pool, next, opts, events) do
    n = opts[:requests]
    i = :atomics.add_get(next, 1, 1)

    if i > n do
      []
    else
      [one_request(pool, i, opts, events) | worker(pool, next, opts, events)]
    end
  end

  defp one_request(pool, i, opts, events) do
    # Each request's randomness depends only on the seed and its index.
    rand = :rand.seed_s(:exsss, {opts[:seed], i, 7919})
    {case_, rand} = gen_case(rand, opts[:max_len])
    {fault, _rand} = gen_fault(rand, opts[:fault_rate])

    t0 = now()
    if fault && fault.kind in @fatal_kinds, do: :ets.insert(events, {:disruption, t0})
    # A hung executor is killed when its request's timeout passes: a shorter
    # one for HANG keeps the bystanders queued behind it within theirs.
    timeout = if fault && fault.kind == :HANG, do: opts[:hang_timeout], else: opts[:timeout]
    run_opts = [pool: pool, timeout: timeout] ++ if(fault, do: [fault: fault], else: [])
    result = PelemayBackend.run(case_.program, case_.inputs, run_opts)
    t1 = now()

    outcome =
      case result do
        {:ok, outputs} ->
          if check(case_, outputs), do: :ok, else: {:wrong, case_.name}

        {:error, %Error{code: code} = e} ->
          Process.put(:chaos_last_error, e.message)
          {:error, code}

        other ->
          {:error, {:untyped, other}}
      end

    %{
      index: i,
      op: case_.name,
      fault: fault && {fault.kind, fault.when},
      outcome: outcome,
      start: t0,
      finish: t1,
      latency: t1 - t0,
      late: t1 - t0 > timeout + @deadline_slack_ms,
      message: Process.delete(:chaos_last_error)
    }
  end

  ## Programs and checking

  @doc false
  def gen_case(rand, max_len) do
    {len, rand} = :rand.uniform_s(max_len, rand)
    {dtype_pick, rand} = :rand.uniform_s(2, rand)
    {op_pick, rand} = :rand.uniform_s(3, rand)
    dtype = if dtype_pick == 1, do: :DTYPE_S32, else: :DTYPE_F32
    op = Enum.at([:add, :multiply, :sum], op_pick - 1)
    {a, rand} = gen_values(dtype, len, rand)
    {b, rand} = gen_values(dtype, len, rand)
    type = %{dtype: dtype, shape: [len]}

    {program, inputs, expected} =
      case op do
        :sum ->
          program = %{
            inputs: [type],
            instructions: [
              %{op: "sum", operands: [0], result: %{dtype: dtype, shape: []}, attrs: %{axes: [0]}}
            ],
            outputs: [1]
          }

          {program, [tensor(dtype, [len], a)], {:scalar, Enum.sum(a)}}

        op ->
          program = %{
            inputs: [type, type],
            instructions: [%{op: Atom.to_string(op), operands: [0, 1], result: type}],
            outputs: [2]
          }

          fun = if op == :add, do: &+/2, else: &*/2

          {program, [tensor(dtype, [len], a), tensor(dtype, [len], b)],
           {:vector, Enum.zip_with(a, b, fun)}}
      end

    {%{name: {op, dtype}, dtype: dtype, program: program, inputs: inputs, expected: expected},
     rand}
  end

  defp gen_values(:DTYPE_S32, len, rand) do
    Enum.map_reduce(1..len, rand, fn _, r ->
      {v, r} = :rand.uniform_s(2_000_001, r)
      {v - 1_000_001, r}
    end)
  end

  defp gen_values(:DTYPE_F32, len, rand) do
    Enum.map_reduce(1..len, rand, fn _, r ->
      {v, r} = :rand.uniform_s(r)
      # Values exactly representable in f32.
      {f32((v - 0.5) * 200.0), r}
    end)
  end

  defp f32(x), do: (<<y::float-32-little>> = <<x::float-32-little>>) && y

  defp tensor(:DTYPE_S32, shape, values),
    do: %{
      dtype: :DTYPE_S32,
      shape: shape,
      payload: {:data, for(v <- values, into: <<>>, do: <<v::signed-32-little>>)}
    }

  defp tensor(:DTYPE_F32, shape, values),
    do: %{
      dtype: :DTYPE_F32,
      shape: shape,
      payload: {:data, for(v <- values, into: <<>>, do: <<v::float-32-little>>)}
    }

  defp decode(%{dtype: :DTYPE_S32, payload: {:data, bytes}}),
    do: for(<<v::signed-32-little <- bytes>>, do: v)

  defp decode(%{dtype: :DTYPE_F32, payload: {:data, bytes}}),
    do: for(<<v::float-32-little <- bytes>>, do: v)

  defp decode(_), do: :undecodable

  @doc false
  def check(%{dtype: dtype, expected: expected}, [output]) do
    got = decode(output)

    case {dtype, expected} do
      # Integers wrap (two's complement, 32 bits).
      {:DTYPE_S32, {:vector, want}} -> got == Enum.map(want, &wrap32/1)
      {:DTYPE_S32, {:scalar, want}} -> got == [wrap32(want)]
      # f32 inputs: a + b and a * b computed in f64 then rounded once are the
      # correctly rounded f32 results.
      {:DTYPE_F32, {:vector, want}} -> got == Enum.map(want, &f32/1)
      # Sums accumulate in f64 in the executor, in an order of its choosing.
      {:DTYPE_F32, {:scalar, want}} -> match?([_], got) and close?(hd(got), want)
    end
  end

  def check(_case, _outputs), do: false

  defp wrap32(v) do
    <<w::signed-32>> = <<v::signed-32>>
    w
  end

  defp close?(got, want), do: abs(got - want) <= 1.0e-5 * max(1.0, abs(want))

  ## Faults

  @doc false
  def gen_fault(rand, rate) do
    {p, rand} = :rand.uniform_s(rand)

    if p < rate do
      {k, rand} = :rand.uniform_s(length(@fault_kinds), rand)
      {w, rand} = :rand.uniform_s(2, rand)
      {extra, rand} = :rand.uniform_s(100, rand)
      kind = Enum.at(@fault_kinds, k - 1)
      fault = %{kind: kind, when: if(w == 1, do: :NOW, else: :DURING_NEXT_RUN)}

      fault =
        case kind do
          :EXIT -> Map.put(fault, :exit_code, extra)
          :SLOW -> Map.put(fault, :delay_ms, rem(extra, 20) + 1)
          _ -> fault
        end

      {fault, rand}
    else
      {nil, rand}
    end
  end

  ## The killer and the pid sampler

  defp kill_loop(pool, events, stop, {min, max}, seed) do
    rand = :rand.seed_s(:exsss, {seed, 4242, 17})
    do_kill_loop(pool, events, stop, min, max, rand)
  end

  defp do_kill_loop(pool, events, stop, min, max, rand) do
    {wait, rand} = :rand.uniform_s(max - min + 1, rand)
    Process.sleep(min + wait - 1)

    if :atomics.get(stop, 1) == 0 do
      rand =
        case Pool.executors(pool) do
          [] ->
            rand

          execs ->
            {i, rand} = :rand.uniform_s(length(execs), rand)
            os_pid = Enum.at(execs, i - 1).os_pid
            :ets.insert(events, {:disruption, now()})
            :ets.insert(events, {:kill, os_pid})
            System.cmd("kill", ["-9", Integer.to_string(os_pid)], stderr_to_stdout: true)
            rand
        end

      do_kill_loop(pool, events, stop, min, max, rand)
    end
  end

  defp sample_pids(pool, seen, stop) do
    for %{os_pid: p} <- Pool.executors(pool), do: :ets.insert(seen, {p})

    if :atomics.get(stop, 1) == 0 do
      Process.sleep(5)
      sample_pids(pool, seen, stop)
    end
  end

  defp wait_exit(pid) do
    ref = Process.monitor(pid)

    receive do
      {:DOWN, ^ref, _, _, _} -> :ok
    end
  end

  defp wait_ready(pool, size, timeout) do
    deadline = now() + timeout

    Stream.repeatedly(fn -> length(Pool.executors(pool)) end)
    |> Enum.find(fn n ->
      n >= size or now() > deadline or (Process.sleep(10) && false)
    end)
  end

  defp health_check(pool, size) do
    wait_ready(pool, size, 5_000)
    rand = :rand.seed_s(:exsss, {1, 2, 3})

    {oks, _} =
      Enum.map_reduce(1..20, rand, fn _, r ->
        {c, r} = gen_case(r, 16)

        ok =
          match?(
            {:ok, outs} when is_list(outs),
            res = PelemayBackend.run(c.program, c.inputs, pool: pool, timeout: 5_000)
          )

        {ok and check(c, elem(res, 1)), r}
      end)

    Enum.count(oks, & &1)
  end

  ## Statistics

  defp summarize(results, events, pids_seen, size, elapsed, health, pool_alive, pool_status, opts) do
    disruptions = for {:disruption, t} <- events, do: t
    kills = for {:kill, p} <- events, do: p

    successes =
      results
      |> Enum.filter(&(&1.outcome == :ok))
      |> Enum.map(& &1.finish)
      |> Enum.sort()
      |> List.to_tuple()

    ttr =
      disruptions
      |> Enum.map(fn t -> next_after(successes, t) end)
      |> Enum.reject(&is_nil/1)

    # Poisoned: the request carried a fault of its own.
    poisoned? = fn r -> r.fault != nil end
    errors = for %{outcome: {:error, code}} = r <- results, do: {code, poisoned?.(r)}

    %{
      requests: length(results),
      ok: Enum.count(results, &(&1.outcome == :ok)),
      wrong: for(%{outcome: {:wrong, what}} = r <- results, do: {r.index, what}),
      errors_poisoned: errors |> Enum.filter(&elem(&1, 1)) |> Enum.frequencies_by(&elem(&1, 0)),
      errors_collateral: errors |> Enum.reject(&elem(&1, 1)) |> Enum.frequencies_by(&elem(&1, 0)),
      collateral_examples:
        for(
          %{outcome: {:error, _}} = r <- results,
          not poisoned?.(r),
          do: Map.take(r, [:index, :op, :outcome, :latency, :message])
        )
        |> Enum.take(5),
      faults: results |> Enum.filter(& &1.fault) |> Enum.frequencies_by(& &1.fault),
      poisoned_ok: Enum.count(results, &(&1.fault && &1.outcome == :ok)),
      kills: length(kills),
      retries: pool_status.retries,
      retried_requests: pool_status.retried_requests,
      pids_seen: pids_seen,
      restarts: max(pids_seen - size, 0),
      late: Enum.count(results, & &1.late),
      latency: percentiles(Enum.map(results, & &1.latency)),
      ttr: percentiles(ttr),
      ttr_samples: length(ttr),
      elapsed_ms: elapsed,
      health_ok: health,
      pool_alive: pool_alive,
      opts:
        Keyword.take(opts, [
          :requests,
          :fault_rate,
          :seed,
          :pool_size,
          :concurrency,
          :timeout,
          :hang_timeout,
          :kill_interval,
          :shared_mem
        ])
    }
  end

  defp next_after(sorted, t), do: bsearch(sorted, t, 0, tuple_size(sorted))

  defp bsearch(sorted, t, lo, hi) when lo >= hi do
    if lo < tuple_size(sorted), do: elem(sorted, lo) - t, else: nil
  end

  defp bsearch(sorted, t, lo, hi) do
    mid = div(lo + hi, 2)

    if elem(sorted, mid) > t,
      do: bsearch(sorted, t, lo, mid),
      else: bsearch(sorted, t, mid + 1, hi)
  end

  @doc "p50, p99 and max of a list of numbers (`nil`s when empty)."
  @spec percentiles([number()]) :: %{
          p50: number() | nil,
          p99: number() | nil,
          max: number() | nil
        }
  def percentiles([]), do: %{p50: nil, p99: nil, max: nil}

  def percentiles(list) do
    sorted = Enum.sort(list)
    n = length(sorted)
    at = fn q -> Enum.at(sorted, min(n - 1, max(0, ceil(q * n) - 1))) end
    %{p50: at.(0.5), p99: at.(0.99), max: List.last(sorted)}
  end

  @doc """
  Whether the run met the acceptance criteria: no wrong result, errors only
  on poisoned requests, none resolved past its deadline, the pool alive and
  answering afterwards.
  """
  @spec acceptable?(map()) :: boolean()
  def acceptable?(stats) do
    stats.wrong == [] and stats.errors_collateral == %{} and stats.late == 0 and stats.pool_alive and
      stats.health_ok == 20 and Map.get(stats, :arena_files_left) in [nil, 0]
  end

  # {ready executors with an arena mapped (their Info), ready executors}.
  defp arenas_mapped(pool) do
    ready = Pool.executors(pool)

    mapped =
      Enum.count(ready, fn %{pid: pid} ->
        match?({:ok, %{arena_path: "/" <> _}}, PelemayBackend.Executor.info(pid))
      end)

    {mapped, length(ready)}
  end

  @doc "The statistics of `run/1` as a printable report."
  @spec report(map()) :: String.t()
  def report(s) do
    faults =
      s.faults
      |> Enum.sort()
      |> Enum.map_join("\n", fn {{kind, w}, n} -> "      #{pad(kind, 16)} #{pad(w, 16)} #{n}" end)

    """
    PelemayBackend chaos report
      options:            #{inspect(s.opts)}
      elapsed:            #{s.elapsed_ms} ms
      requests:           #{s.requests}
      ok (checked):       #{s.ok}
      wrong results:      #{length(s.wrong)}#{if s.wrong != [], do: " " <> inspect(Enum.take(s.wrong, 5)), else: ""}
      errors, poisoned:   #{inspect(s.errors_poisoned)}
      errors, collateral: #{inspect(s.errors_collateral)}#{if s.collateral_examples != [], do: "\n        e.g. " <> inspect(s.collateral_examples), else: ""}
      past deadline:      #{s.late}
      faults injected:    #{Enum.sum(Map.values(s.faults))} (#{s.poisoned_ok} of the poisoned requests still succeeded)
    #{faults}
      SIGKILLs (killer):  #{s.kills}
      executor pids seen: #{s.pids_seen} (restarts: #{s.restarts})
      retried requests:   #{s.retried_requests} (#{s.retries} retries in all; the pool's counters)
      latency ms:         p50 #{s.latency.p50}, p99 #{s.latency.p99}, max #{s.latency.max}
      time to recover ms: p50 #{s.ttr.p50}, p99 #{s.ttr.p99}, max #{s.ttr.max} (#{s.ttr_samples} kills/fatal faults)
      after the storm:    pool alive: #{s.pool_alive}, health check #{s.health_ok}/20 correct
      shared memory:      #{shared_mem_line(s)}
      BEAM alive:         true (this report was printed)
      verdict:            #{if acceptable?(s), do: "PASS", else: "FAIL"}
    """
  end

  defp shared_mem_line(%{arena_files_left: nil}), do: "off"

  defp shared_mem_line(s),
    do:
      "on (every tensor through the arenas); #{elem(s.arenas_mapped, 0)} of the #{elem(s.arenas_mapped, 1)} ready executors had one mapped; " <>
        "arena files left after the pool stopped: #{s.arena_files_left}"

  defp pad(x, n), do: String.pad_trailing(to_string(x), n)
  defp now, do: System.monotonic_time(:millisecond)
end
