defmodule PelemayBackend.Pool.Manager do
  @moduledoc """
  Keeps a pool's executors running (see `PelemayBackend.Pool`).

  It starts the executors under the pool's `DynamicSupervisor` (as
  `:temporary` children: restarting them is its job, not the supervisor's),
  monitors them, and owns the pool's ETS table:

    * `{{:exec, pid}, os_pid, in_flight}` - one row per executor that answered
      its handshake; callers pick the one with the least requests in flight
      and bump the count, the executor lowers it as it answers;
    * `{:status, :ok | :unavailable, message}`.

  When an executor dies of anything but an ordinary shutdown, the death is
  counted and a new executor is started after a backoff that doubles with each
  death in the last `:crash_period` ms (`:restart_backoff`, `{min, max}` ms).
  When more than `:max_crashes` deaths fall in that period, the pool becomes
  `:unavailable`: it stops replacing executors, callers that find no ready
  executor get an `:unavailable` error at once, and one probe executor is
  started after `:probe_backoff` (`{min, max}` ms, doubling after each failed
  probe). When a probe answers its handshake the pool is available again and
  is filled back to its size.

  It also owns the pool's shared-memory arenas (`PelemayBackend.Arena`): one
  per executor, created when first needed, handed to the executor it starts
  and, when that executor dies, to its replacement (which maps the same
  file). It traps exits so that it removes them when the pool stops; when it
  starts, it removes the arenas whose owner OS process is gone.
  """

  use GenServer
  require Logger

  alias PelemayBackend.{Arena, Error, Executor}

  @defaults [
    max_crashes: 10,
    crash_period: 5_000,
    restart_backoff: {10, 2_000},
    probe_backoff: {100, 10_000},
    arena_size: 256 * 1024 * 1024,
    arena_dir: nil
  ]

  @doc false
  def start_link(opts) do
    GenServer.start_link(__MODULE__, opts, name: Keyword.fetch!(opts, :manager_name))
  end

  @doc false
  def defaults, do: @defaults

  @impl true
  def init(opts) do
    Process.flag(:trap_exit, true)
    name = Keyword.fetch!(opts, :name)

    table =
      :ets.new(name, [
        :named_table,
        :public,
        :set,
        read_concurrency: true,
        write_concurrency: true
      ])

    :ets.insert(table, {:status, :ok, nil})
    # The ready executors, read by every request to pick one (two lookups are
    # cheaper than a select, which compiles its match spec on every call).
    :ets.insert(table, {:members, []})
    # Counters bumped by the requests themselves (PelemayBackend.Pool.retry/2).
    :ets.insert(table, [{{:counter, :retries}, 0}, {{:counter, :retried_requests}, 0}])
    opts = Keyword.merge(@defaults, opts)
    arena_size = Keyword.fetch!(opts, :arena_size)

    unless is_integer(arena_size) and arena_size >= 0,
      do:
        raise(
          ArgumentError,
          ":arena_size must be a non-negative integer, got: #{inspect(arena_size)}"
        )

    arena_dir = Keyword.get(opts, :arena_dir) || Arena.default_dir()
    if arena_size > 0, do: Arena.cleanup_orphans(arena_dir)

    state = %{
      name: name,
      table: table,
      sup: Keyword.fetch!(opts, :supervisor_name),
      size: Keyword.fetch!(opts, :size),
      executor_opts: Keyword.fetch!(opts, :executor_opts),
      max_crashes: Keyword.fetch!(opts, :max_crashes),
      crash_period: Keyword.fetch!(opts, :crash_period),
      restart_backoff: Keyword.fetch!(opts, :restart_backoff),
      probe_backoff: Keyword.fetch!(opts, :probe_backoff),
      # pid => %{monitor: ref, os_pid: integer | nil, ready: boolean}
      executors: %{},
      # restarts scheduled but not yet done
      pending: 0,
      # monotonic ms of the deaths in the last crash_period
      crashes: [],
      status: :ok,
      message: nil,
      probe: nil,
      probe_delay: elem(Keyword.fetch!(opts, :probe_backoff), 0),
      last_death: nil,
      # ref => {from, exclude}
      waiters: %{},
      arena_size: arena_size,
      arena_dir: arena_dir,
      # arenas created and not held by a live executor; every one created
      free_arenas: [],
      arenas: []
    }

    {:ok, state, {:continue, :fill}}
  end

  @impl true
  def handle_continue(:fill, state), do: {:noreply, fill(state)}

  @impl true
  def handle_call({:wait, exclude, deadline}, from, state) do
    cond do
      state.status == :unavailable ->
        {:reply, {:error, state.message}, state}

      ready_other_than?(state, exclude) ->
        {:reply, :retry, state}

      true ->
        ref = make_ref()
        Process.send_after(self(), {:waiter_timeout, ref}, max(deadline - Executor.now(), 0))
        {:noreply, %{state | waiters: Map.put(state.waiters, ref, {from, exclude})}}
    end
  end

  def handle_call(:status, _from, state) do
    ready = Enum.count(state.executors, fn {_, e} -> e.ready end)

    status = %{
      status: state.status,
      message: state.message,
      size: state.size,
      ready: ready,
      starting: map_size(state.executors) - ready,
      restarts_pending: state.pending,
      recent_crashes: length(prune(state.crashes, state.crash_period)),
      last_death: state.last_death,
      retries: counter(state.table, :retries),
      retried_requests: counter(state.table, :retried_requests)
    }

    {:reply, status, state}
  end

  @impl true
  def handle_info({:executor_ready, pid, os_pid}, state) do
    case Map.fetch(state.executors, pid) do
      {:ok, entry} ->
        state = %{
          state
          | executors: Map.put(state.executors, pid, %{entry | ready: true, os_pid: os_pid})
        }

        publish_members(state)

        state = if pid == state.probe, do: recovered(state), else: state
        {:noreply, wake_waiters(state)}

      :error ->
        {:noreply, state}
    end
  end

  def handle_info({:DOWN, mon, :process, pid, reason}, state) do
    case Map.pop(state.executors, pid) do
      {%{monitor: ^mon} = entry, executors} ->
        :ets.delete(state.table, {:exec, pid})
        publish_members(%{state | executors: executors})
        # Its replacement maps the same arena.
        state = give_back_arena(%{state | executors: executors}, entry.arena)
        {:noreply, executor_down(state, pid, reason)}

      _ ->
        {:noreply, state}
    end
  end

  def handle_info(:restart, state) do
    state = %{state | pending: state.pending - 1}

    if state.status == :ok and map_size(state.executors) + state.pending < state.size do
      {:noreply, start_executor(state)}
    else
      {:noreply, state}
    end
  end

  def handle_info(:probe, state) do
    if state.status == :unavailable and state.probe == nil do
      case start_child(state) do
        {:ok, pid, state} ->
          {:noreply, %{state | probe: pid}}

        {:error, info, state} ->
          {:noreply, probe_failed(record_death(state, info))}
      end
    else
      {:noreply, state}
    end
  end

  def handle_info({:waiter_timeout, ref}, state) do
    case Map.pop(state.waiters, ref) do
      {{from, _}, waiters} ->
        GenServer.reply(from, {:error, :timeout})
        {:noreply, %{state | waiters: waiters}}

      {nil, _} ->
        {:noreply, state}
    end
  end

  def handle_info(_other, state), do: {:noreply, state}

  defp publish_members(state) do
    ready = for {pid, %{ready: true}} <- state.executors, do: pid
    :ets.insert(state.table, {:members, ready})
  end

  @impl true
  def terminate(_reason, state) do
    # The executors may still be running (the pool's supervisor stops them
    # after this process): they keep their mappings of the removed files
    # until they exit, and nothing new can use them.
    Enum.each(state.arenas, &Arena.remove/1)
    :ok
  end

  ## Arenas

  defp take_arena(%{arena_size: 0} = state), do: {nil, state}
  defp take_arena(%{free_arenas: [path | rest]} = state), do: {path, %{state | free_arenas: rest}}

  defp take_arena(state) do
    case Arena.create(state.arena_size, state.arena_dir) do
      {:ok, path} ->
        {path, %{state | arenas: [path | state.arenas]}}

      {:error, reason} ->
        Logger.warning(
          "PelemayBackend.Pool #{inspect(state.name)}: cannot create an arena in #{state.arena_dir} " <>
            "(#{inspect(reason)}); this executor's tensors travel inline"
        )

        {nil, state}
    end
  end

  defp give_back_arena(state, nil), do: state
  defp give_back_arena(state, path), do: %{state | free_arenas: [path | state.free_arenas]}

  ## Starting

  defp fill(state) do
    missing = state.size - map_size(state.executors) - state.pending
    Enum.reduce(1..missing//1, state, fn _, state -> start_executor(state) end)
  end

  # Starts one executor; a failure to start counts as a death.
  defp start_executor(state) do
    case start_child(state) do
      {:ok, _pid, state} -> state
      {:error, info, state} -> died(state, info)
    end
  end

  defp start_child(state) do
    {arena, state} = take_arena(state)
    opts = Keyword.merge(state.executor_opts, table: state.table, manager: self(), arena: arena)

    case DynamicSupervisor.start_child(state.sup, {Executor, opts}) do
      {:ok, pid} ->
        mon = Process.monitor(pid)
        entry = %{monitor: mon, os_pid: nil, ready: false, arena: arena}
        {:ok, pid, %{state | executors: Map.put(state.executors, pid, entry)}}

      {:error, {:shutdown, {_kind, info}}} ->
        {:error, info, give_back_arena(state, arena)}

      {:error, reason} ->
        {:error, %{reason: {:exit, reason}}, give_back_arena(state, arena)}

      :ignore ->
        {:error, %{reason: {:exit, :ignore}}, give_back_arena(state, arena)}
    end
  end

  ## Deaths

  defp executor_down(state, pid, reason) do
    cond do
      pid == state.probe ->
        info = death_info(reason) || %{reason: {:exit, reason}}
        probe_failed(record_death(%{state | probe: nil}, info))

      info = death_info(reason) ->
        died(state, info)

      true ->
        # An ordinary shutdown (a shutdown request, the supervisor): replace it.
        if state.status == :ok, do: schedule_restart(state, 0), else: state
    end
  end

  defp death_info(reason) do
    case reason do
      :normal -> nil
      :shutdown -> nil
      {:shutdown, {kind, info}} when kind in [:crashed, :killed] -> info
      {:shutdown, _} -> nil
      other -> %{reason: {:exit, other}}
    end
  end

  defp died(state, info) do
    state = record_death(state, info)
    count = length(state.crashes)

    cond do
      state.status == :unavailable ->
        state

      count > state.max_crashes ->
        unavailable(state, info, count)

      true ->
        {min, max} = state.restart_backoff
        delay = min(min * Integer.pow(2, count - 1), max)

        Logger.warning(
          "PelemayBackend.Pool #{inspect(state.name)}: an executor#{pid_text(info)} " <>
            "#{Error.describe_death(info)}; starting a new one in #{delay} ms"
        )

        schedule_restart(state, delay)
    end
  end

  defp record_death(state, info) do
    now = Executor.now()
    %{state | crashes: [now | prune(state.crashes, state.crash_period)], last_death: info}
  end

  defp prune(crashes, period) do
    now = Executor.now()
    Enum.filter(crashes, &(now - &1 < period))
  end

  defp schedule_restart(state, delay) do
    Process.send_after(self(), :restart, delay)
    %{state | pending: state.pending + 1}
  end

  defp unavailable(state, info, count) do
    {min, _} = state.probe_backoff

    message =
      "the pool #{inspect(state.name)} is unavailable: its executors died #{count} times " <>
        "within #{state.crash_period} ms (the last one#{pid_text(info)} #{Error.describe_death(info)}); " <>
        "it stopped restarting them and tries a new one from time to time"

    Logger.error("PelemayBackend.Pool #{inspect(state.name)}: " <> message)
    :ets.insert(state.table, {:status, :unavailable, message})
    Process.send_after(self(), :probe, min)
    state = %{state | status: :unavailable, message: message, probe_delay: min}
    fail_waiters(state)
  end

  defp probe_failed(state) do
    {_, max} = state.probe_backoff
    delay = min(state.probe_delay * 2, max)
    Process.send_after(self(), :probe, state.probe_delay)
    %{state | probe_delay: delay}
  end

  defp recovered(state) do
    {min, _} = state.probe_backoff

    Logger.info(
      "PelemayBackend.Pool #{inspect(state.name)}: an executor started again; the pool is available"
    )

    :ets.insert(state.table, {:status, :ok, nil})
    state = %{state | status: :ok, message: nil, probe: nil, crashes: [], probe_delay: min}
    fill(state)
  end

  defp pid_text(%{os_pid: os_pid}) when is_integer(os_pid), do: " (OS pid #{os_pid})"
  defp pid_text(_), do: ""

  ## Waiters

  defp ready_other_than?(state, exclude) do
    Enum.any?(state.executors, fn {pid, e} -> e.ready and pid not in exclude end)
  end

  defp wake_waiters(state) do
    {wake, keep} =
      Enum.split_with(state.waiters, fn {_ref, {_from, exclude}} ->
        ready_other_than?(state, exclude)
      end)

    Enum.each(wake, fn {_ref, {from, _}} -> GenServer.reply(from, :retry) end)
    %{state | waiters: Map.new(keep)}
  end

  defp fail_waiters(state) do
    Enum.each(state.waiters, fn {_ref, {from, _}} ->
      GenServer.reply(from, {:error, state.message})
    end)

    %{state | waiters: %{}}
  end

  defp counter(table, name) do
    case :ets.lookup(table, {:counter, name}) do
      [{_, n}] -> n
      [] -> 0
    end
  end
end
