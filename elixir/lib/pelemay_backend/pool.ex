defmodule PelemayBackend.Pool do
  @moduledoc """
  A pool of supervised executors (`PelemayBackend.Executor`) that a native
  crash cannot take down, and the retrying client on top of it.

      children = [{PelemayBackend.Pool, name: MyPool, size: 4, memory_budget: "256M"}]
      {:ok, [sum]} = PelemayBackend.run(program, [a, b], pool: MyPool)

  `PelemayBackend.Application` starts one named `PelemayBackend.Pool` (the
  default of `PelemayBackend.run/3`) unless `config :pelemay_backend,
  start_pool: false`; its options come from `config :pelemay_backend, :pool`.

  ## Supervision

      PelemayBackend.Pool       Supervisor, :one_for_all, max_restarts: 3, max_seconds: 5
      ├── <name>.Executors      DynamicSupervisor of the executors (:temporary children)
      └── <name>.Manager        PelemayBackend.Pool.Manager

  The manager starts `:size` executors, replaces each that dies after a
  backoff, and stops replacing them when they die faster than the intensity
  allows (`:max_crashes` deaths in `:crash_period` ms): the pool is then
  `:unavailable`, requests that find no ready executor get an `:unavailable`
  error at once instead of waiting, and a probe executor is tried with a
  growing backoff until one starts; then the pool fills up again. See
  `PelemayBackend.Pool.Manager`.

  ## Requests

  `run/4` picks the ready executor with the fewest requests in flight (an ETS
  table, no central process on the way) and sends the request straight to it;
  the reply comes straight back. When an executor dies under a request:

    * the request the executor was computing (the suspect) is retried once on
      another executor, alone: on an idle one, to which no other request is
      sent while it runs (unless every executor is busier), so that if it
      kills that one too it takes no other request with it; the caller then
      gets `:executor_crashed` naming the signal or exit status of both
      deaths;
    * the other requests in flight on it (bystanders) are retried without
      using up that retry (a request is sent 8 times at most in all).

  `status/1` counts the retries.

  The deadline (`:timeout`) covers the whole request, retries and waiting for
  an executor included. When it passes while the request is computing, its
  executor is killed by OS pid and replaced, and the caller gets `:timeout`.

  ## Asynchronous requests and cancelling

  `run_async/4` returns `{:ok, request}`; `await/1` waits for it (retrying as
  `run/4` does) and `cancel/1` cancels it (the executor stops the run at the
  next instruction boundary) and returns how it ended. Both must be called by
  the process that called `run_async/4`, once.

  ## Options of `start_link/1`

    * `:name` - the pool's name, an atom (default `PelemayBackend.Pool`)
    * `:size` - executors (default `System.schedulers_online()`)
    * `:executor_path`, `:executor_args`, `:memory_budget`, `:threads`,
      `:spin_us`, `:ready_timeout`, `:priority` - for each executor, see
      `PelemayBackend.Executor`
    * `:max_crashes` (default 10) and `:crash_period` (ms, default 5 000) -
      the restart intensity
    * `:restart_backoff` - `{min, max}` ms before replacing a dead executor,
      doubled per recent death (default `{10, 2_000}`)
    * `:probe_backoff` - `{min, max}` ms between probes of an unavailable pool
      (default `{100, 10_000}`)
    * `:arena_size` - bytes of the shared-memory arena of each executor
      (default 256 MiB, a sparse file: RAM is only used for the ranges
      requests use; 0 turns shared memory off), `:arena_dir` - where arenas
      go (default `PelemayBackend.Arena.default_dir/0`, `/dev/shm` on Linux),
      `:arena_threshold` - see `PelemayBackend.Executor`

  ## Shared memory

  The manager creates one arena per executor (`PelemayBackend.Arena`) and
  passes its path to the executor it starts; when that executor dies, its
  replacement gets the same arena, so a retried request finds it mapped.
  Large inputs are written into it and large outputs read from it instead
  of travelling through the pipe (see `PelemayBackend.Executor`). The
  manager removes its arenas when the pool stops, and when a pool starts it
  removes every arena left by an owner OS process that no longer exists.
  """

  use Supervisor

  alias PelemayBackend.{AwaitSpin, Error, Executor}
  alias PelemayBackend.Pool.Manager

  @default_timeout 60_000
  # Attempts of one request in all, bystander retries included: a request
  # that keeps landing on executors that die under others still ends.
  @max_attempts 8
  # The in-flight weight of a suspect's retry: no other request is sent to
  # its executor while any executor with a smaller count is ready.
  @isolation_weight 1_000
  @isolation_poll_ms 2
  @executor_keys [
    :executor_path,
    :executor_args,
    :memory_budget,
    :threads,
    :spin_us,
    :ready_timeout,
    :arena_threshold,
    :priority
  ]
  @manager_keys [
    :max_crashes,
    :crash_period,
    :restart_backoff,
    :probe_backoff,
    :arena_size,
    :arena_dir
  ]

  defmodule Request do
    @moduledoc """
    A request submitted with `PelemayBackend.Pool.run_async/4` (or
    `PelemayBackend.run_async/3`), for `await/1` and `cancel/1`.
    """
    defstruct [
      :pool,
      :ticket,
      :body,
      :meta,
      :timeout,
      :deadline,
      :retries,
      crashes: [],
      attempts: 1
    ]

    @type t :: %__MODULE__{}
  end

  @type pool :: atom()

  @doc "Starts a pool (see the options above)."
  @spec start_link(keyword()) :: Supervisor.on_start()
  def start_link(opts \\ []) do
    name = Keyword.get(opts, :name, __MODULE__)
    Supervisor.start_link(__MODULE__, Keyword.put(opts, :name, name), name: name)
  end

  @doc false
  def child_spec(opts) do
    %{
      id: Keyword.get(opts, :name, __MODULE__),
      start: {__MODULE__, :start_link, [opts]},
      type: :supervisor
    }
  end

  @impl true
  def init(opts) do
    name = Keyword.fetch!(opts, :name)

    unless is_atom(name),
      do: raise(ArgumentError, "the pool's :name must be an atom, got: #{inspect(name)}")

    size = Keyword.get(opts, :size, System.schedulers_online())

    unless is_integer(size) and size > 0,
      do: raise(ArgumentError, ":size must be a positive integer, got: #{inspect(size)}")

    # Checked here, once, rather than by every executor that would fail to start.
    Executor.priority_option(opts)

    manager_opts =
      opts
      |> Keyword.take(@manager_keys)
      |> Keyword.merge(
        name: name,
        manager_name: manager_name(name),
        supervisor_name: executors_name(name),
        size: size,
        executor_opts: Keyword.take(opts, @executor_keys)
      )

    children = [
      {DynamicSupervisor, name: executors_name(name), strategy: :one_for_one},
      {Manager, manager_opts}
    ]

    Supervisor.init(children, strategy: :one_for_all, max_restarts: 3, max_seconds: 5)
  end

  defp manager_name(pool), do: Module.concat(pool, Manager)
  defp executors_name(pool), do: Module.concat(pool, Executors)

  ## Running

  @doc """
  Runs `program` (a `pelemay.v1.Program` map) on `inputs` (`pelemay.v1.Tensor`
  maps) on an executor of `pool`. Returns `{:ok, outputs}` (a list of Tensor
  maps) or `{:error, %PelemayBackend.Error{}}`.

  Options:

    * `:timeout` - ms for the whole request (default 60 000)
    * `:retries` - how many times a request that crashed its executor is
      retried (default 1)
    * `:await_spin_us` - how long the caller polls for the reply before it
      blocks, 0..10 000 us (`PelemayBackend.AwaitSpin`: a reply that finds
      the caller's scheduler awake arrives several times sooner; default
      50 with two or more CPUs, else 0)
    * `:fault` - a `FaultRequest` map (e.g. `%{kind: :SEGFAULT, when:
      :DURING_NEXT_RUN}`) that the request carries on every attempt and that
      fires inside that request's run alone (`RunRequest.fault`), a
      *poisoned* request: for fault-tolerance tests, with executors started
      with `executor_args: ["--enable-fault-injection"]`
  """
  @spec run(pool(), map(), [map()], keyword()) :: {:ok, [map()]} | {:error, Error.t()}
  def run(pool, program, inputs, opts \\ []) do
    with {:ok, request} <- run_async(pool, program, inputs, opts), do: await(request)
  end

  @doc "Submits a run (see `run/4`) and returns `{:ok, request}` for `await/1` or `cancel/1`."
  @spec run_async(pool(), map(), [map()], keyword()) :: {:ok, Request.t()} | {:error, Error.t()}
  def run_async(pool, program, inputs, opts \\ []) do
    timeout = Executor.timeout_option(opts, @default_timeout)
    retries = Keyword.get(opts, :retries, 1)

    with {:ok, body, extras} <- Executor.encode_run(program, inputs, Keyword.get(opts, :fault)) do
      # The run map goes along: each attempt's executor moves it into its
      # own arena (a retry lands on another executor, or on the replacement
      # that maps the same arena), and names a prepared program by the id
      # its own executor compiled it under.
      meta =
        Executor.meta(:run, timeout, 1)
        |> Map.put(:await_spin, AwaitSpin.native(opts))
        |> Map.merge(extras)

      request = %Request{
        pool: pool,
        body: body,
        meta: meta,
        timeout: timeout,
        deadline: meta.deadline,
        retries: retries
      }

      case checkout(pool, [], meta.deadline, timeout) do
        {:ok, pid} -> {:ok, %{request | ticket: Executor.submit_encoded(pid, body, meta)}}
        {:error, _} = error -> error
      end
    end
  end

  @doc "Waits for a request of `run_async/4`: `{:ok, outputs}` or `{:error, error}`."
  @spec await(Request.t()) :: {:ok, [map()]} | {:error, Error.t()}
  def await(%Request{} = request) do
    case Executor.await_raw(request.ticket) do
      {:ok, %{outputs: outputs}} -> {:ok, outputs}
      {:error, _} = error -> error
      {:executor_down, info} -> retry(request, info)
    end
  end

  @doc """
  Cancels a request of `run_async/4` and returns how it ended: `{:error,
  %Error{code: :cancelled}}`, or `{:ok, outputs}` when it had finished first.
  """
  @spec cancel(Request.t()) :: {:ok, [map()]} | {:error, Error.t()}
  def cancel(%Request{} = request) do
    case Executor.cancel(request.ticket) do
      {:ok, %{outputs: outputs}} -> {:ok, outputs}
      {:error, _} = error -> error
    end
  end

  defp retry(request, info) do
    blamed? = info[:blamed] == true
    crashes = if blamed?, do: [info | request.crashes], else: request.crashes
    dead = request.ticket.pid

    cond do
      length(crashes) > request.retries ->
        {:error, Error.crashed(crashes)}

      request.attempts >= @max_attempts ->
        {:error, Error.crashed(if blamed?, do: crashes, else: [info | crashes])}

      Executor.now() >= request.deadline ->
        {:error, Error.timeout(request.timeout, nil, false)}

      true ->
        # A suspect (it was computing when its executor died) is retried
        # alone on an idle executor that takes nothing else while it runs:
        # should it crash that one too, no other request goes down with it.
        {checkout, weight} =
          if crashes != [],
            do: {&checkout_isolated/4, @isolation_weight},
            else: {&checkout/4, 1}

        case checkout.(request.pool, [dead], request.deadline, request.timeout) do
          {:ok, pid} ->
            count_retry(request)
            meta = %{request.meta | weight: weight}
            ticket = Executor.submit_encoded(pid, request.body, meta)

            await(%{
              request
              | ticket: ticket,
                meta: meta,
                crashes: crashes,
                attempts: request.attempts + 1
            })

          {:error, _} = error ->
            error
        end
    end
  end

  defp count_retry(%Request{pool: pool, attempts: attempts}) do
    :ets.update_counter(pool, {:counter, :retries}, 1, {{:counter, :retries}, 0})

    if attempts == 1,
      do:
        :ets.update_counter(
          pool,
          {:counter, :retried_requests},
          1,
          {{:counter, :retried_requests}, 0}
        )
  rescue
    # The pool's table is gone (the pool stopped): nothing to count in.
    ArgumentError -> :ok
  end

  ## Picking an executor

  # The ready executor with the fewest requests in flight, its count bumped;
  # or, when none is ready, wait for one (until the deadline) unless the pool
  # is unavailable.
  defp checkout(pool, exclude, deadline, timeout) do
    case pick(pool, exclude) do
      {:ok, pid} ->
        {:ok, pid}

      :none ->
        case :ets.lookup(pool, :status) do
          [{:status, :unavailable, message}] -> {:error, Error.unavailable(message)}
          _ -> wait(pool, exclude, deadline, timeout)
        end
    end
  rescue
    ArgumentError -> {:error, not_running(pool)}
  end

  # An idle ready executor (nothing in flight), its count raised by the
  # isolation weight; waits for one (polling, until the deadline) when every
  # executor is busy.
  defp checkout_isolated(pool, exclude, deadline, timeout) do
    case pick_idle(pool, exclude) do
      {:ok, pid} ->
        {:ok, pid}

      :none ->
        cond do
          match?([{:status, :unavailable, _}], :ets.lookup(pool, :status)) ->
            [{:status, :unavailable, message}] = :ets.lookup(pool, :status)
            {:error, Error.unavailable(message)}

          Executor.now() >= deadline ->
            {:error, no_executor_timeout(timeout)}

          true ->
            Process.sleep(@isolation_poll_ms)
            checkout_isolated(pool, exclude, deadline, timeout)
        end
    end
  rescue
    ArgumentError -> {:error, not_running(pool)}
  end

  # The ready executors not in `exclude`, with their in-flight counts. An
  # executor that has just died may still be a member for a moment, but its
  # row is gone: it is skipped.
  defp candidates(pool, exclude) do
    members =
      case :ets.lookup(pool, :members) do
        [{:members, pids}] -> pids
        [] -> []
      end

    for pid <- members,
        pid not in exclude,
        [{_, _, n}] <- [:ets.lookup(pool, {:exec, pid})],
        do: {pid, n}
  end

  defp pick_idle(pool, exclude) do
    idle = for {pid, 0} <- candidates(pool, exclude), do: pid

    case idle do
      [] ->
        :none

      [pid | _] ->
        try do
          case :ets.update_counter(pool, {:exec, pid}, {3, @isolation_weight}) do
            @isolation_weight ->
              {:ok, pid}

            _ ->
              # Another request got there first: give it back, look again.
              :ets.update_counter(pool, {:exec, pid}, {3, -@isolation_weight, 0, 0})
              pick_idle(pool, [pid | exclude])
          end
        rescue
          ArgumentError -> pick_idle(pool, [pid | exclude])
        end
    end
  end

  defp pick(pool, exclude) do
    candidates = candidates(pool, exclude)

    case candidates do
      [] ->
        :none

      _ ->
        {pid, _} = Enum.min_by(candidates, &elem(&1, 1))

        try do
          n = :ets.update_counter(pool, {:exec, pid}, {3, 1})

          if n > @isolation_weight and length(candidates) > 1 do
            # A suspect's retry took it between the look and the bump: it is
            # to run alone, so give the slot back and pick among the others.
            :ets.update_counter(pool, {:exec, pid}, {3, -1, 0, 0})
            pick(pool, [pid | exclude])
          else
            {:ok, pid}
          end
        rescue
          # It left the pool just now.
          ArgumentError -> pick(pool, [pid | exclude])
        end
    end
  end

  defp wait(pool, exclude, deadline, timeout) do
    remaining = deadline - Executor.now()

    if remaining <= 0 do
      {:error, no_executor_timeout(timeout)}
    else
      try do
        GenServer.call(manager_name(pool), {:wait, exclude, deadline}, remaining + 1_000)
      catch
        :exit, {:timeout, _} -> {:error, no_executor_timeout(timeout)}
        :exit, _ -> {:error, not_running(pool)}
      else
        :retry -> checkout(pool, exclude, deadline, timeout)
        {:error, :timeout} -> {:error, no_executor_timeout(timeout)}
        {:error, message} -> {:error, Error.unavailable(message)}
      end
    end
  end

  defp no_executor_timeout(timeout) do
    %Error{
      code: :timeout,
      message:
        "the request did not finish within its timeout of #{timeout} ms: no executor of the pool became ready"
    }
  end

  defp not_running(pool), do: Error.unavailable("the pool #{inspect(pool)} is not running")

  ## Introspection

  @doc """
  The pool's state: `%{status: :ok | :unavailable, message: nil | String.t(),
  size:, ready:, starting:, restarts_pending:, recent_crashes:, last_death:,
  retries:, retried_requests:}` (`retries`: attempts sent again after an
  executor died under them, since the pool started; `retried_requests`: the
  requests that needed at least one).
  """
  @spec status(pool(), timeout()) :: {:ok, map()} | {:error, Error.t()}
  def status(pool \\ __MODULE__, timeout \\ 5_000) do
    {:ok, GenServer.call(manager_name(pool), :status, timeout)}
  catch
    :exit, _ -> {:error, not_running(pool)}
  end

  @doc """
  The ready executors: `[%{pid: pid, os_pid: integer, in_flight: integer,
  isolating: boolean}]`, sorted by OS pid (`isolating`: it is running a
  suspect's retry and takes no other request while another is free).
  """
  @spec executors(pool()) :: [map()]
  def executors(pool \\ __MODULE__) do
    pool
    |> :ets.select([{{{:exec, :"$1"}, :"$2", :"$3"}, [], [{{:"$1", :"$2", :"$3"}}]}])
    |> Enum.map(fn {pid, os_pid, n} ->
      %{
        pid: pid,
        os_pid: os_pid,
        in_flight: div(n, @isolation_weight) + rem(n, @isolation_weight),
        isolating: n >= @isolation_weight
      }
    end)
    |> Enum.sort_by(& &1.os_pid)
  rescue
    ArgumentError -> []
  end
end
