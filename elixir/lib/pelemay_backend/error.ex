defmodule PelemayBackend.Error do
  @moduledoc """
  Why a request to an executor did not produce a result.

  Returned as `{:error, %PelemayBackend.Error{}}` by `PelemayBackend.run/3`,
  `PelemayBackend.Executor.run/4` and friends; raised by the bang variants.

  ## Fields

    * `code` - an atom saying what kind of failure it is (below)
    * `message` - a sentence saying what happened, for people
    * `instruction` - the index of the offending instruction when the executor
      blamed one (validation errors, integer division by zero...), else `nil`
    * `signal` - for `:executor_crashed`: the signal that killed the executor
      (`:SIGSEGV`, `:SIGABRT`, `:SIGKILL`, `:SIGBUS`, `:SIGSYS`, ... or the
      number when it has no name here), `nil` when it exited
    * `exit_status` - for `:executor_crashed`: the status the port reported
      (128 + the signal number when a signal killed it), `nil` when unknown
    * `os_pid` - the OS pid of the executor concerned, when known

  ## Codes

  From the executor (`ErrorCode` of `proto/pelemay.proto`, see
  `docs/protocol.md`): `:invalid_argument`, `:unsupported`,
  `:resource_exhausted`, `:cancelled`, `:deadline_exceeded`, `:internal`,
  `:not_found`.

  From the port layer:

    * `:executor_crashed` - the executor died (a signal, an exit, a garbage or
      truncated reply) while running the request, and the request was not (or
      no longer) retried
    * `:timeout` - the request's deadline passed; the executor that was running
      it was killed and is replaced
    * `:unavailable` - no executor can take the request: the pool is not
      running, or its executors crash faster than its restart intensity
      allows
  """

  @codes [
    :invalid_argument,
    :unsupported,
    :resource_exhausted,
    :cancelled,
    :deadline_exceeded,
    :internal,
    :not_found,
    :executor_crashed,
    :timeout,
    :unavailable
  ]

  defexception code: :internal,
               message: "internal error",
               instruction: nil,
               signal: nil,
               exit_status: nil,
               os_pid: nil

  @type code ::
          :invalid_argument
          | :unsupported
          | :resource_exhausted
          | :cancelled
          | :deadline_exceeded
          | :internal
          | :not_found
          | :executor_crashed
          | :timeout
          | :unavailable

  @type t :: %__MODULE__{
          code: code(),
          message: String.t(),
          instruction: non_neg_integer() | nil,
          signal: atom() | pos_integer() | nil,
          exit_status: non_neg_integer() | nil,
          os_pid: pos_integer() | nil
        }

  @doc "Every code an error can have."
  @spec codes() :: [code()]
  def codes, do: @codes

  @proto_codes %{
    INVALID_ARGUMENT: :invalid_argument,
    UNSUPPORTED: :unsupported,
    RESOURCE_EXHAUSTED: :resource_exhausted,
    CANCELLED: :cancelled,
    DEADLINE_EXCEEDED: :deadline_exceeded,
    INTERNAL: :internal,
    NOT_FOUND: :not_found
  }

  @doc """
  Builds an error from a decoded `pelemay.v1.Error` message
  (`%{code: :INVALID_ARGUMENT, message: "...", instruction: 3}`).
  """
  @spec from_proto(map(), pos_integer() | nil) :: t()
  def from_proto(%{} = error, os_pid \\ nil) do
    code = Map.get(@proto_codes, Map.get(error, :code), :internal)

    message =
      case Map.get(error, :message) do
        m when is_binary(m) and m != "" -> m
        _ -> "the executor reported #{inspect(Map.get(error, :code))} without a message"
      end

    %__MODULE__{
      code: code,
      message: message,
      instruction: Map.get(error, :instruction),
      os_pid: os_pid
    }
  end

  @signals %{
    1 => :SIGHUP,
    2 => :SIGINT,
    3 => :SIGQUIT,
    4 => :SIGILL,
    5 => :SIGTRAP,
    6 => :SIGABRT,
    7 => :SIGBUS,
    8 => :SIGFPE,
    9 => :SIGKILL,
    11 => :SIGSEGV,
    13 => :SIGPIPE,
    14 => :SIGALRM,
    15 => :SIGTERM,
    24 => :SIGXCPU,
    25 => :SIGXFSZ,
    31 => :SIGSYS
  }

  @doc """
  The signal behind a port's exit status: `nil` for a plain exit (status
  0..128), the signal's name for 128 + n (`139` gives `:SIGSEGV`), or `n`
  itself when the signal has no name here.
  """
  @spec signal_of_status(integer()) :: atom() | pos_integer() | nil
  def signal_of_status(status) when is_integer(status) and status > 128 and status < 160 do
    n = status - 128
    Map.get(@signals, n, n)
  end

  def signal_of_status(_status), do: nil

  @doc """
  Describes how an executor died, from the `info` map the executor reports
  (`:reason`, `:signal`, `:exit_status`): "crashed with SIGSEGV", "exited with
  status 70", "sent a reply that is not a valid Response", ...
  """
  @spec describe_death(map()) :: String.t()
  def describe_death(info) do
    case info do
      %{signal: signal} when signal != nil -> "crashed with #{signal_name(signal)}"
      %{reason: :garbage_reply} -> "sent a reply that is not a valid Response (and was killed)"
      %{reason: :not_ready} -> "did not answer its first request in time (and was killed)"
      %{reason: :spawn_failed, detail: detail} -> "could not be started (#{detail})"
      %{exit_status: 0} -> "exited with status 0 unexpectedly"
      %{exit_status: status} when is_integer(status) -> "exited with status #{status}"
      %{reason: :killed_for_timeout} -> "was killed because a request on it passed its timeout"
      %{reason: :cancel_ignored} -> "was killed because it did not stop a cancelled request"
      %{reason: :stopped} -> "was stopped"
      %{reason: :shutdown} -> "was shut down"
      %{reason: :noproc} -> "was not running"
      %{reason: {:port_closed, reason}} -> "closed its pipes (#{inspect(reason)}): it had died"
      %{reason: {:exit, reason}} -> "stopped (#{inspect(reason)})"
      _ -> "died"
    end
  end

  defp signal_name(signal) when is_atom(signal), do: Atom.to_string(signal)
  defp signal_name(n), do: "signal #{n}"

  @doc """
  The `:executor_crashed` error for a request whose executor died under it
  `crashes` (a list of death infos, latest first) times.
  """
  @spec crashed([map(), ...]) :: t()
  def crashed([last | _] = crashes) do
    count =
      case length(crashes) do
        1 -> ""
        2 -> " twice"
        n -> " #{n} times"
      end

    how =
      case crashes |> Enum.map(&describe_death/1) |> Enum.uniq() do
        [one] -> one <> count
        several -> Enum.join(Enum.reverse(several), ", then ")
      end

    pids =
      case crashes
           |> Enum.map(&Map.get(&1, :os_pid))
           |> Enum.reject(&is_nil/1)
           |> Enum.reverse() do
        [] -> ""
        [pid] -> " (OS pid #{pid})"
        pids -> " (OS pids #{Enum.join(pids, ", ")})"
      end

    %__MODULE__{
      code: :executor_crashed,
      message: "the executor#{pids} #{how} while running this request",
      signal: Map.get(last, :signal),
      exit_status: Map.get(last, :exit_status),
      os_pid: Map.get(last, :os_pid)
    }
  end

  @doc false
  @spec timeout(non_neg_integer(), pos_integer() | nil, boolean()) :: t()
  def timeout(ms, os_pid, killed?) do
    tail =
      cond do
        killed? and os_pid ->
          "; the executor running it (OS pid #{os_pid}) was killed and is replaced"

        killed? ->
          "; the executor running it was killed and is replaced"

        true ->
          ""
      end

    %__MODULE__{
      code: :timeout,
      message: "the request did not finish within its timeout of #{ms} ms#{tail}",
      os_pid: os_pid
    }
  end

  @doc false
  @spec unavailable(String.t()) :: t()
  def unavailable(message), do: %__MODULE__{code: :unavailable, message: message}
end
