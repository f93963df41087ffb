defmodule PelemayBackend.AwaitSpin do
  @max_us 10_000
  @auto_us 50

  @moduledoc """
  How a caller waits for an executor's reply: it polls its mailbox for a
  short while, yielding between polls, before it blocks in `receive`.

  Why: a process that blocks lets its scheduler run out of work, and an idle
  scheduler goes to sleep in the kernel (in `epoll_wait`, through the BEAM's
  scheduler polling). A reply that arrives later than about a microsecond
  after the request finds it asleep, and waking it costs far more than the
  work: on the 2-vCPU virtual machine of `docs/benchmarks.md`, an executor
  `ping` answered at once comes back in 4 us, the same ping answered after a
  2 us delay in 19 us, and a one-element `add` (about 2 us of executor work)
  in 19 us as well. A caller that polls with `:erlang.yield/0` keeps its
  scheduler awake: the scheduler runs any other process that is ready
  between two polls, checks the ports for input as it goes, and the reply
  of the delayed ping arrives in 6 us. After the budget the caller blocks
  as before, so a long computation costs at most the budget in scheduler
  time.

  The budget is the option `:await_spin_us` of `PelemayBackend.run/3`,
  `PelemayBackend.Pool.run/4` and `PelemayBackend.Executor.run/4` (and
  `submit/3`), 0..#{@max_us} microseconds; 0 blocks at once. Its default is
  the application environment's `:await_spin_us` when set, else #{@auto_us} with
  two or more logical CPUs available and 0 with one, where the polling
  would take the CPU that the executor needs to compute the reply.

      iex> PelemayBackend.AwaitSpin.native(await_spin_us: 0)
      0
      iex> PelemayBackend.AwaitSpin.native(await_spin_us: 10) ==
      ...>   System.convert_time_unit(10, :microsecond, :native)
      true
      iex> PelemayBackend.AwaitSpin.poll(0, fn -> :never_called end)
      :none
      iex> send(self(), :reply)
      iex> PelemayBackend.AwaitSpin.poll(1_000_000, fn -> receive do: (:reply -> :got), after: (0 -> :none) end)
      :got
  """

  @key {__MODULE__, :default_us}

  @doc "The largest budget accepted, in microseconds."
  @spec max_us() :: pos_integer()
  def max_us, do: @max_us

  @doc """
  The default budget in microseconds: the application environment's
  `:await_spin_us` when set (checked as the option is), else #{@auto_us} with
  two or more logical CPUs available and 0 with one. Read once and kept.
  """
  @spec default_us() :: non_neg_integer()
  def default_us do
    case :persistent_term.get(@key, nil) do
      nil ->
        us =
          case Application.fetch_env(:pelemay_backend, :await_spin_us) do
            {:ok, us} -> check!(us)
            :error -> auto_us(available_cpus())
          end

        :persistent_term.put(@key, us)
        us

      us ->
        us
    end
  end

  @doc false
  # Forgets the kept default (tests that change the application environment).
  def reset_default, do: :persistent_term.erase(@key)

  @doc "The budget for `cpus` logical CPUs when nothing is configured."
  @spec auto_us(pos_integer()) :: non_neg_integer()
  def auto_us(cpus) when is_integer(cpus) and cpus >= 2, do: @auto_us
  def auto_us(_cpus), do: 0

  @doc """
  The budget of `opts` (`:await_spin_us`, else `default_us/0`) in native
  time units, as `poll/2` takes it. Raises `ArgumentError` on a value that
  is not an integer in 0..#{@max_us}.
  """
  @spec native(keyword()) :: non_neg_integer()
  def native(opts) do
    us =
      case Keyword.fetch(opts, :await_spin_us) do
        {:ok, us} -> check!(us)
        :error -> default_us()
      end

    System.convert_time_unit(us, :microsecond, :native)
  end

  @doc """
  Calls `check` (a function that looks into the mailbox without waiting and
  returns `:none` when what it looks for is not there) until it returns
  something else or `budget` native time units have passed, yielding the
  scheduler between calls. Returns what `check` returned, or `:none`.
  With a budget of 0 it returns `:none` without calling `check`.
  """
  @spec poll(non_neg_integer(), (() -> term())) :: term()
  def poll(0, _check), do: :none

  def poll(budget, check) when is_integer(budget) and budget > 0,
    do: poll_until(System.monotonic_time() + budget, check)

  defp poll_until(until, check) do
    case check.() do
      :none ->
        if System.monotonic_time() < until do
          :erlang.yield()
          poll_until(until, check)
        else
          :none
        end

      found ->
        found
    end
  end

  defp check!(us) when is_integer(us) and us >= 0 and us <= @max_us, do: us

  defp check!(other) do
    raise ArgumentError,
          ":await_spin_us must be an integer in 0..#{@max_us} (microseconds), got: #{inspect(other)}"
  end

  # Logical CPUs this VM may run on (its affinity), else those online.
  defp available_cpus do
    case :erlang.system_info(:logical_processors_available) do
      n when is_integer(n) ->
        n

      _ ->
        with n when is_integer(n) <- :erlang.system_info(:logical_processors_online),
             do: n,
             else: (_ -> 1)
    end
  end
end
