defmodule PelemayBackend.Executor do
  @moduledoc """
  One executor: a GenServer that owns one port running the C++ executor
  program (`PelemayBackend.Native.executor_path/0`) and speaks
  `proto/pelemay.proto` with it in `{:packet, 4}` frames.

  Most code uses a pool (`PelemayBackend.run/3`, `PelemayBackend.Pool`),
  which retries requests whose executor died. This module is the layer below:
  it never retries. It is usable alone, e.g. under a test supervisor:

      {:ok, pid} = PelemayBackend.Executor.start_link(memory_budget: "64M")
      {:ok, %{outputs: [sum], compute_us: _}} =
        PelemayBackend.Executor.run(pid, program, [a, b], timeout: 5_000)

  ## Requests

  Requests are pipelined: each gets an id, goes to the executor at once, and
  its reply is matched by id, so many callers can use one executor
  concurrently (the executor runs `run` and `compile` one at a time in
  arrival order; `ping`, `info`, `stats`, `cancel` are answered at once).
  The request is encoded in the caller's process; the executor process only
  writes frames and decodes replies, which it sends straight to the caller.

  Every request has a timeout (`:timeout`, in ms; 60 s for `run` and
  `compile`, 5 s for the others). When it passes:

    * a `run` or `compile` still queued behind others is cancelled in the
      executor and the caller gets a `:timeout` error; the executor stays;
    * the request being computed (or any other request: the executor then no
      longer answers) makes the executor be killed with SIGKILL by its OS pid:
      the caller gets `:timeout`, and the process stops (a pool replaces it).

  A cancelled request that the executor does not stop within 5 s also gets
  the executor killed. The port is opened with `{:busy_limits_port,
  :disabled}`, so writing to a program that stopped reading never suspends
  this process: its timers still fire and kill it. So no caller and no
  executor process waits forever.

  ## Failures

  The executor process stops when the executor program dies: a signal, an
  exit, a garbage reply (a frame that does not decode as a `Response`: the
  program is killed at once) or a truncated one. Each request still in flight
  is answered `{:executor_down, info}` internally, which `run/4` and the other
  functions here turn into `{:error, %PelemayBackend.Error{code:
  :executor_crashed}}` naming the signal or exit status. `info` says whether
  the request is the likely culprit (`blamed: true`: the oldest `run` or
  `compile` in flight, the one the executor was computing); a pool uses that
  to retry bystanders freely and culprits once.

  The process stops with `{:shutdown, {:crashed, info}}` (or `{:shutdown,
  {:killed, info}}` when it killed the program itself), so a supervisor can
  tell crashes from ordinary shutdowns. On an ordinary shutdown the port is
  closed, and the program, which exits on end of input, goes away; one that
  is still computing is killed.

  ## Options

    * `:executor_path` - the program (default `PelemayBackend.Native.executor_path/0`)
    * `:executor_args` - more command-line arguments, e.g. `["--enable-fault-injection"]`
    * `:memory_budget` - bytes (integer) or a string such as `"64M"`:
      `--memory-budget`; programs over it get `:resource_exhausted` and the
      executor stays up
    * `:threads` - `--threads`
    * `:spin_us` - `--spin-us`: microseconds the executor keeps polling
      its input after handling a request while no run computes, before it
      sleeps (default 100 where the executor has two CPUs or more, else 0;
      at most 10 000). A caller that sends its next request within that
      time finds the executor awake: on a virtual machine this halves the
      round trip of a small op (docs/benchmarks.md). It costs at most that
      much CPU time each time the executor goes idle; 0 turns it off
      (battery-powered boards)
    * `:ready_timeout` - ms the program has to answer its first `info` (10 s)
    * `:priority` - this process's priority: `:high` (the default),
      `:normal` or `:low`. Every reply passes through it, and at normal
      priority it waits behind whatever else its scheduler runs, the
      caller's own polling (`PelemayBackend.AwaitSpin`) included; the BEAM
      then wakes a second scheduler, which on two CPUs competes with the
      executor program. `Executor.run/4` of a one-element add had a p99 of
      18-345 us at `:normal` and 16-19 us at `:high` (docs/benchmarks.md).
      Its work per message is bookkeeping and a frame to encode or decode;
      arena copies run on dirty I/O schedulers (`:file.pread/3`,
      `:file.pwrite/2`), so it never holds a scheduler for long.
    * `:arena` - the path of a shared-memory arena (`PelemayBackend.Arena`)
      for this executor, created and owned by the caller (a pool's manager
      passes one); or
    * `:arena_size` - bytes: this process creates its own arena of that size
      and removes it when it stops
    * `:arena_threshold` - bytes (default #{64 * 1024}, 64 KiB, where the two paths cross on a quiet machine in docs/benchmarks.md):
      with an arena, each input of a `run` with at least this many bytes of
      data goes through the arena, and each output of at least this size comes
      back through it; smaller ones travel inline. 0 sends every tensor
      through the arena.
    * `:program_cache` - how many prepared programs this process keeps
      compiled in its executor (default 256, at most the executor's own
      `--program-cache`; 0: every run travels inline). See below.
    * `:name` - registers the process

  ## Shared memory

  With an arena, `run/4` (and a pool's runs) write large inputs into the
  arena instead of the frame, the executor computes on them in place and
  writes large outputs straight into it, and this process reads them back
  into binaries before answering: the caller sees ordinary `{:data, binary}`
  outputs. Each request gets a region of its own, freed when the executor
  has answered it, so pipelined requests never overwrite each other; a
  request that does not fit travels inline. See `PelemayBackend.Arena` and
  the arena section of docs/protocol.md.

  ## Compiled programs

  A run of a `PelemayBackend.Program.Prepared` program is compiled once per
  executor: its first two runs here travel inline, the second followed by a
  `CompileRequest` (a program seen once is not worth compiling: one whose
  encoding holds call-dependent values would otherwise cost a compile and a
  release per call); once the executor has answered with an id, every run of
  the same program is sent by id (`RunRequest.program_id`), so the executor
  neither parses nor validates it again and the frame carries only the
  inputs. The table of ids is this process's state, bounded by
  `:program_cache` (least recently used programs are released in the
  executor too), and goes away with the executor. A run by an id the
  executor no longer knows (`NOT_FOUND`) is sent again inline under the
  same caller, so a caller never sees the cache.

  A pool passes `:table` and `:manager` as well (internal).
  """

  use GenServer, restart: :temporary
  require Logger

  alias PelemayBackend.{Arena, AwaitSpin, Error, Native, Proto}
  alias PelemayBackend.Program.Prepared
  alias PelemayBackend.Proto.Wire

  @default_timeout 60_000
  @control_timeout 5_000
  @default_program_cache 256
  @ready_timeout 10_000
  @cancel_grace 5_000
  @await_grace 2_000
  @compute_kinds [:run, :compile]
  # Where the arena path and the inline path cross (docs/benchmarks.md,
  # `mix pelemay.bench_arena`).
  @default_arena_threshold 64 * 1024

  @doc false
  def default_arena_threshold, do: @default_arena_threshold

  defmodule Ticket do
    @moduledoc """
    A request submitted with `PelemayBackend.Executor.submit/3`: pass it to
    `PelemayBackend.Executor.await/1` or `PelemayBackend.Executor.cancel/1`,
    from the process that submitted it.
    """
    @enforce_keys [:ref, :pid, :deadline, :timeout]
    defstruct [:ref, :pid, :deadline, :timeout, spin: 0]

    # spin: how long await/1 polls before it blocks, in native time units
    # (PelemayBackend.AwaitSpin).
    @type t :: %__MODULE__{
            ref: reference(),
            pid: pid(),
            deadline: integer(),
            timeout: pos_integer(),
            spin: non_neg_integer()
          }
  end

  @type server :: GenServer.server()
  @type request_kind :: {atom(), map()}
  @type result :: {:ok, map()} | {:error, Error.t()}

  defstruct [
    :port,
    :os_pid,
    :path,
    :table,
    :manager,
    :ready_timer,
    :info,
    :arena,
    arena_owned: nil,
    ready: false,
    next_id: 1,
    entries: %{},
    refs: %{},
    shutdown_requested: false,
    # Prepared programs this executor knows (PelemayBackend.Program.Prepared):
    # encoded program => {state, tick}, state being its program id, :pending
    # (a compile is in flight), :seen (run once, inline; compiled if it
    # comes again) or :failed (the executor refused it; runs
    # stay inline and get the executor's error). Ticks order them for
    # least-recently-used release; `program_ticks` is tick => encoded program.
    programs: %{},
    program_ticks: :gb_trees.empty(),
    program_tick: 0,
    program_capacity: 0
  ]

  ## Client API

  @doc "Starts an executor process linked to the caller (see the options above)."
  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts \\ []) do
    {gen_opts, opts} = Keyword.split(opts, [:name])
    GenServer.start_link(__MODULE__, opts, gen_opts)
  end

  @doc """
  Runs `program` (a `pelemay.v1.Program` map) on `inputs` (a list of
  `pelemay.v1.Tensor` maps). Returns `{:ok, %{outputs: [tensor], compute_us:
  n}}` or `{:error, %PelemayBackend.Error{}}`. Not retried.

  Options: `:timeout` (ms, default 60 000); `:await_spin_us`, how long the
  caller polls for the reply before it blocks (`PelemayBackend.AwaitSpin`;
  default 50 with two or more CPUs, else 0); `:fault`, a `FaultRequest` map
  that this run carries and that fires inside it alone (`RunRequest.fault`;
  tests; the executor needs `--enable-fault-injection`, else the run is
  `:unsupported`).
  """
  @spec run(server(), map() | Prepared.t(), [map()], keyword()) :: result()
  def run(server, program, inputs, opts \\ []) do
    timeout = timeout_option(opts, @default_timeout)

    meta = meta(:run, timeout, 0) |> Map.put(:await_spin, AwaitSpin.native(opts))

    with {:ok, body, extras} <- encode_run(program, inputs, Keyword.get(opts, :fault)),
         {:ok, pid} <- whereis(server) do
      await(submit_encoded(pid, body, Map.merge(meta, extras)))
    end
  end

  @doc false
  # A run request with the run's own fault (the `:fault` option) in it.
  def with_fault(kind, nil), do: kind
  def with_fault({:run, run}, fault) when is_map(fault), do: {:run, Map.put(run, :fault, fault)}

  def with_fault(kind, fault) do
    raise ArgumentError,
          "the :fault option belongs to a run request (a map), got: #{inspect(fault)} for #{inspect(elem(kind, 0))}"
  end

  @doc "As `run/4`, but returns the result map or raises `PelemayBackend.Error`."
  @spec run!(server(), map(), [map()], keyword()) :: map()
  def run!(server, program, inputs, opts \\ []), do: bang(run(server, program, inputs, opts))

  @doc "Validates and caches `program`; returns `{:ok, %{program_id: id}}`."
  @spec compile(server(), map(), keyword()) :: result()
  def compile(server, program, opts \\ []),
    do: request(server, {:compile, %{program: program}}, opts)

  @doc "Liveness: `{:ok, %{}}` when the executor answers."
  @spec ping(server(), keyword()) :: result()
  def ping(server, opts \\ []), do: request(server, {:ping, %{}}, opts)

  @doc "The executor's `Info` (version, SIMD targets, limits, ops)."
  @spec info(server(), keyword()) :: result()
  def info(server, opts \\ []), do: request(server, {:info, %{}}, opts)

  @doc "The executor's `Stats` (counters, tensor memory, RssAnon, busy)."
  @spec stats(server(), keyword()) :: result()
  def stats(server, opts \\ []), do: request(server, {:stats, %{}}, opts)

  @doc """
  Sends a `FaultRequest`, e.g. `%{kind: :SEGFAULT, when: :DURING_NEXT_RUN}`.
  Only obeyed by an executor started with `--enable-fault-injection`
  (`executor_args: ["--enable-fault-injection"]`), else `:unsupported`. A
  fatal fault `when: :NOW` answers `:executor_crashed`.
  """
  @spec inject_fault(server(), map(), keyword()) :: result()
  def inject_fault(server, fault, opts \\ []), do: request(server, {:fault, fault}, opts)

  @doc """
  Sends any request `kind` (a `Request.kind` oneof value such as
  `{:stats, %{}}`) and waits for its reply: `{:ok, reply_map}` or
  `{:error, %PelemayBackend.Error{}}`.
  """
  @spec request(server(), request_kind(), keyword()) :: result()
  def request(server, kind, opts \\ []) do
    with {:ok, ticket} <- submit(server, kind, opts), do: await(ticket)
  end

  @doc "The OS pid of the executor program."
  @spec os_pid(server(), timeout()) :: {:ok, pos_integer()} | {:error, Error.t()}
  def os_pid(server, timeout \\ @control_timeout) do
    {:ok, GenServer.call(server, :os_pid, timeout)}
  catch
    :exit, reason ->
      {:error, Error.unavailable("the executor is not answering: #{inspect(reason)}")}
  end

  @doc """
  Submits a request without waiting: returns `{:ok, ticket}` for `await/1` or
  `cancel/1` (call both from this process), or an error when the request
  cannot be encoded or the executor is not running. Options as `run/4`.
  """
  @spec submit(server(), request_kind(), keyword()) :: {:ok, Ticket.t()} | {:error, Error.t()}
  def submit(server, {tag, _} = kind, opts \\ []) do
    default = if tag in @compute_kinds, do: @default_timeout, else: @control_timeout
    timeout = timeout_option(opts, default)

    kind = with_fault(kind, Keyword.get(opts, :fault))

    meta = meta(tag, timeout, 0, run_of(kind)) |> Map.put(:await_spin, AwaitSpin.native(opts))

    with {:ok, body} <- encode_request(kind),
         {:ok, pid} <- whereis(server) do
      {:ok, submit_encoded(pid, body, meta)}
    end
  end

  @doc """
  Waits for a submitted request: `{:ok, reply_map}` or `{:error, error}`. It
  waits until the request's deadline plus a short grace period at most; the
  executor answers `:timeout` at the deadline itself.
  """
  @spec await(Ticket.t()) :: result()
  def await(%Ticket{} = ticket) do
    case await_raw(ticket) do
      {:executor_down, %{reason: :noproc}} ->
        {:error, Error.unavailable("the executor is not running")}

      {:executor_down, info} ->
        {:error, Error.crashed([info])}

      other ->
        other
    end
  end

  @doc """
  Cancels a submitted request and returns how it ended: `{:error, %Error{code:
  :cancelled}}`, or its result when it had finished before the cancel
  arrived. A `run` that is computing stops at the next instruction boundary;
  if it does not stop within 5 s, the executor is killed.
  """
  @spec cancel(Ticket.t()) :: result()
  def cancel(%Ticket{ref: ref, pid: pid} = ticket) do
    send(pid, {:"$pelemay_cancel", ref})

    case await_raw(%{ticket | deadline: now()}) do
      {:executor_down, _} -> {:error, cancelled_error()}
      {:error, %Error{code: :timeout}} -> {:error, cancelled_error()}
      other -> other
    end
  end

  ## Internal API shared with PelemayBackend.Pool

  @doc false
  @spec encode_request(request_kind()) :: {:ok, iodata()} | {:error, Error.t()}
  def encode_request(kind) do
    # The id (field 1) is prepended by the executor process; a Request whose
    # id is 0 encodes as its kind alone.
    case Proto.encode(:Request, %{id: 0, kind: kind}) do
      {:ok, iodata} ->
        {:ok, iodata}

      {:error, error} ->
        {:error, encode_error(error)}
    end
  end

  defp encode_error(error),
    do: %Error{
      code: :invalid_argument,
      message: "the request cannot be encoded: " <> Exception.message(error)
    }

  @doc false
  # A run of `program` (a Program map or a Prepared one) on `inputs`,
  # encoded: `{:ok, body, extras}` with `extras` for `meta/4`: `run`, the
  # RunRequest map (which the executor process moves into its arena when
  # that pays) and, for a prepared program, `prepared` and `rest`, the run
  # encoded without its program, from which the executor process builds the
  # by-id form once its executor has compiled the program.
  def encode_run(%Prepared{} = prepared, inputs, nil) do
    case encode_inline_inputs(inputs, []) do
      :codec ->
        encode_run_with_codec(prepared, inputs, nil)

      rest ->
        {:ok, run_body({:program, prepared.encoded}, rest),
         %{run: %{inputs: inputs}, prepared: prepared, rest: rest}}
    end
  end

  def encode_run(%Prepared{} = prepared, inputs, fault),
    do: encode_run_with_codec(prepared, inputs, fault)

  def encode_run(program, inputs, fault) when is_map(program) do
    kind = with_fault({:run, %{source: {:program, program}, inputs: inputs}}, fault)
    with {:ok, body} <- encode_request(kind), do: {:ok, body, %{run: run_of(kind)}}
  end

  defp encode_run_with_codec(prepared, inputs, fault) do
    {:run, run} = with_fault({:run, %{inputs: inputs}}, fault)

    case Proto.encode(:RunRequest, run) do
      {:ok, rest} ->
        {:ok, run_body({:program, prepared.encoded}, rest),
         %{run: run, prepared: prepared, rest: rest}}

      {:error, error} ->
        {:error, encode_error(error)}
    end
  end

  # The inputs of a run as RunRequest field 3 (`repeated Tensor inputs`),
  # for the common case alone: tensors with a valid dtype, a shape of
  # non-negative dimensions and their data inline as a binary. These are
  # the bytes Proto.encode gives for them (a test compares both on random
  # tensors), written without walking the schema: this runs for every call
  # of the Nx backend and took most of its encoding time. Anything else
  # (arena payloads, literals, iodata, bad values) is `:codec`: the caller
  # encodes with Proto, which also reports what is wrong.
  @dtype_numbers PelemayBackend.Proto.Schema.enum_values(:DType) |> Map.new()
  defp encode_inline_inputs([], acc), do: Enum.reverse(acc)

  defp encode_inline_inputs(
         [%{dtype: dtype, shape: shape, payload: {:data, data}} = tensor | rest],
         acc
       )
       when map_size(tensor) == 3 and is_binary(data) and is_list(shape) do
    with %{^dtype => number} when number != 0 <- @dtype_numbers,
         dims when is_list(dims) <- packed_dims(shape, []) do
      shape_field =
        case dims do
          [] -> []
          _ -> [<<0x12>>, Wire.encode_varint(IO.iodata_length(dims)) | dims]
        end

      tensor = [
        <<0x08>>,
        Wire.encode_varint(number),
        shape_field,
        <<0x1A>>,
        Wire.encode_varint(byte_size(data)) | data
      ]

      encode_inline_inputs(rest, [
        [<<0x1A>>, Wire.encode_varint(IO.iodata_length(tensor)) | tensor] | acc
      ])
    else
      _ -> :codec
    end
  end

  defp encode_inline_inputs(_other, _acc), do: :codec

  defp packed_dims([], acc), do: Enum.reverse(acc)

  defp packed_dims([d | rest], acc) when is_integer(d) and d >= 0 and d <= 0x7FFF_FFFF_FFFF_FFFF,
    do: packed_dims(rest, [Wire.encode_varint(d) | acc])

  defp packed_dims(_other, _acc), do: :codec

  @doc false
  # The Request (id 0, prepended when written) whose RunRequest is `source`
  # followed by `rest`, the other RunRequest fields already encoded: the
  # same bytes Proto.encode gives for the whole map, as protobuf writes
  # fields in field-number order and the source fields (program = 1,
  # program_id = 2) come first.
  def run_body(source, rest) do
    source =
      case source do
        {:program, encoded} -> [<<0x0A>>, Wire.encode_varint(byte_size(encoded)), encoded]
        {:program_id, id} -> [<<0x10>>, Wire.encode_varint(id)]
      end

    run = [source | rest]
    [<<0x12>>, Wire.encode_varint(IO.iodata_length(run)) | run]
  end

  @doc false
  # `weight`: what the request adds to its executor's in-flight count in a
  # pool's table while it is in flight (0: not counted). `run`: the
  # RunRequest map of a run, which the executor process moves into its arena
  # when it has one and the run is large enough (the encoded body is the
  # inline form of the same request).
  def meta(tag, timeout, weight, run \\ nil) do
    %{
      tag: tag,
      compute: tag in @compute_kinds,
      timeout: timeout,
      deadline: now() + timeout,
      weight: weight,
      run: run
    }
  end

  @doc false
  def run_of({:run, run}) when is_map(run), do: run
  def run_of(_kind), do: nil

  @doc false
  def submit_encoded(pid, body, meta) do
    ref = :erlang.monitor(:process, pid, [{:alias, :demonitor}])
    send(pid, {:"$pelemay_submit", ref, body, meta})

    %Ticket{
      ref: ref,
      pid: pid,
      deadline: meta.deadline,
      timeout: meta.timeout,
      spin: Map.get(meta, :await_spin, 0)
    }
  end

  @doc false
  # {:ok, map} | {:error, Error.t()} | {:executor_down, info}
  # Polls for the reply for the ticket's spin budget first (AwaitSpin: a
  # reply that finds this scheduler awake is read far sooner), then blocks.
  def await_raw(%Ticket{ref: ref, pid: pid, deadline: deadline, timeout: timeout} = ticket) do
    with :none <- AwaitSpin.poll(ticket.spin, fn -> take_reply(ref, 0) end),
         :none <- take_reply(ref, max(deadline - now(), 0) + @await_grace) do
      Process.demonitor(ref, [:flush])
      send(pid, {:"$pelemay_cancel", ref})
      {:error, Error.timeout(timeout, nil, false)}
    end
  end

  # The reply to `ref` or its executor's end, waiting `wait` ms; :none.
  defp take_reply(ref, wait) do
    receive do
      {^ref, reply} ->
        Process.demonitor(ref, [:flush])
        reply

      {:DOWN, ^ref, :process, _, reason} ->
        {:executor_down, down_info(reason)}
    after
      wait -> :none
    end
  end

  @doc false
  def timeout_option(opts, default) do
    case Keyword.get(opts, :timeout, default) do
      t when is_integer(t) and t > 0 ->
        t

      other ->
        raise ArgumentError, ":timeout must be a positive integer (ms), got: #{inspect(other)}"
    end
  end

  @doc false
  def now, do: System.monotonic_time(:millisecond)

  defp down_info(:noproc), do: %{reason: :noproc, blamed: false}

  defp down_info({:shutdown, {kind, info}}) when kind in [:crashed, :killed],
    do: Map.put(info, :blamed, false)

  defp down_info(reason), do: %{reason: {:exit, reason}, blamed: false}

  defp whereis(server) do
    case GenServer.whereis(server) do
      pid when is_pid(pid) -> {:ok, pid}
      _ -> {:error, Error.unavailable("the executor #{inspect(server)} is not running")}
    end
  end

  defp cancelled_error, do: %Error{code: :cancelled, message: "the request was cancelled"}

  defp bang({:ok, result}), do: result
  defp bang({:error, error}), do: raise(error)

  ## Server

  @impl true
  def init(opts) do
    Process.flag(:trap_exit, true)
    Process.flag(:priority, priority_option(opts))
    path = Keyword.get_lazy(opts, :executor_path, &Native.executor_path/0)
    {arena, owned} = open_arena(opts)
    args = command_line(opts) ++ if(arena, do: ["--arena=" <> arena.path], else: [])

    case open_port(path, args) do
      {:ok, port, os_pid} ->
        state = %__MODULE__{
          port: port,
          os_pid: os_pid,
          path: path,
          table: Keyword.get(opts, :table),
          manager: Keyword.get(opts, :manager),
          arena: arena,
          arena_owned: owned,
          program_capacity: program_capacity(opts)
        }

        ready_timeout = Keyword.get(opts, :ready_timeout, @ready_timeout)
        {:ok, state, {:continue, {:handshake, ready_timeout}}}

      {:error, detail} ->
        close_arena(%{arena: arena, arena_owned: owned})
        {:stop, {:shutdown, {:crashed, %{reason: :spawn_failed, detail: detail, os_pid: nil}}}}
    end
  end

  @doc false
  def priority_option(opts) do
    case Keyword.get(opts, :priority, :high) do
      p when p in [:low, :normal, :high] ->
        p

      other ->
        raise ArgumentError,
              ":priority must be :low, :normal or :high, got: #{inspect(other)}"
    end
  end

  defp program_capacity(opts) do
    case Keyword.get(opts, :program_cache, @default_program_cache) do
      n when is_integer(n) and n >= 0 ->
        n

      other ->
        raise ArgumentError,
              ":program_cache must be a non-negative integer, got: #{inspect(other)}"
    end
  end

  # {arena | nil, path this process created and must remove | nil}
  defp open_arena(opts) do
    threshold = Keyword.get(opts, :arena_threshold, @default_arena_threshold)

    unless is_integer(threshold) and threshold >= 0,
      do:
        raise(
          ArgumentError,
          ":arena_threshold must be a non-negative integer, got: #{inspect(threshold)}"
        )

    {path, owned} =
      case {Keyword.get(opts, :arena), Keyword.get(opts, :arena_size)} do
        {path, _} when is_binary(path) ->
          {path, nil}

        {nil, size} when is_integer(size) and size > 0 ->
          case Arena.create(size) do
            {:ok, path} ->
              {path, path}

            {:error, reason} ->
              Logger.warning(
                "PelemayBackend executor: cannot create an arena (#{inspect(reason)}); tensors travel inline"
              )

              {nil, nil}
          end

        _ ->
          {nil, nil}
      end

    case path && Arena.open(path, threshold) do
      nil ->
        {nil, nil}

      {:ok, arena} ->
        {arena, owned}

      {:error, reason} ->
        Logger.warning(
          "PelemayBackend executor: cannot open the arena #{path} (#{inspect(reason)}); tensors travel inline"
        )

        Arena.remove(owned)
        {nil, nil}
    end
  end

  defp close_arena(%{arena: arena, arena_owned: owned}) do
    if arena, do: Arena.close(arena)
    Arena.remove(owned)
  end

  @doc false
  def command_line(opts) do
    extra = Keyword.get(opts, :executor_args, [])

    budget =
      case Keyword.get(opts, :memory_budget) do
        nil -> []
        n when is_integer(n) -> ["--memory-budget=#{n}"]
        s when is_binary(s) -> ["--memory-budget=#{s}"]
      end

    threads =
      case Keyword.get(opts, :threads) do
        nil -> []
        n when is_integer(n) -> ["--threads=#{n}"]
      end

    spin =
      case Keyword.get(opts, :spin_us) do
        nil ->
          []

        n when is_integer(n) and n in 0..10_000 ->
          ["--spin-us=#{n}"]

        other ->
          raise ArgumentError,
                ":spin_us must be an integer from 0 to 10000 (microseconds), got: #{inspect(other)}"
      end

    Enum.map(budget ++ threads ++ spin ++ extra, &to_string/1)
  end

  defp open_port(path, args) do
    if File.regular?(path) do
      try do
        port =
          Port.open({:spawn_executable, path}, [
            :binary,
            {:packet, 4},
            :exit_status,
            {:busy_limits_port, :disabled},
            args: args
          ])

        case Port.info(port, :os_pid) do
          {:os_pid, os_pid} -> {:ok, port, os_pid}
          _ -> {:error, "#{path} exited at once"}
        end
      rescue
        e -> {:error, "#{path}: #{Exception.message(e)}"}
      end
    else
      {:error, "no executor program at #{path}"}
    end
  end

  @impl true
  def handle_continue({:handshake, ready_timeout}, state) do
    {:ok, body} = encode_request({:info, %{}})
    {id, state} = take_id(state)
    state = put_entry(state, id, %{internal: :ready, compute: false})
    write(state, id, body)
    timer = Process.send_after(self(), :ready_timeout, ready_timeout)
    {:noreply, %{state | ready_timer: timer}}
  end

  @impl true
  def handle_call(:os_pid, _from, state), do: {:reply, state.os_pid, state}

  @impl true
  def handle_info({:"$pelemay_submit", ref, _body, %{prepared: prepared} = meta}, state) do
    {id, state} = take_id(state)
    timer = :erlang.start_timer(meta.deadline, self(), {:deadline, id}, abs: true)
    {rest, region, state} = arena_rest(meta, state)
    {source, compile?, state} = program_source(prepared, state)

    entry = %{
      ref: ref,
      compute: true,
      timeout: meta.timeout,
      timer: timer,
      weight: meta.weight,
      ghost: false,
      internal: nil,
      region: region,
      prepared: prepared,
      rest: rest,
      deadline: meta.deadline,
      # The program id the run was sent by, nil when inline.
      by_id: with({:program_id, program_id} <- source, do: program_id, else: (_ -> nil))
    }

    state = %{put_entry(state, id, entry) | refs: Map.put(state.refs, ref, id)}
    write(state, id, run_body(source, rest))
    {:noreply, if(compile?, do: compile_program(state, prepared), else: state)}
  end

  def handle_info({:"$pelemay_submit", ref, body, meta}, state) do
    {id, state} = take_id(state)
    timer = :erlang.start_timer(meta.deadline, self(), {:deadline, id}, abs: true)
    {body, region, state} = maybe_arena(body, Map.get(meta, :run), state)

    entry = %{
      ref: ref,
      compute: meta.compute,
      timeout: meta.timeout,
      timer: timer,
      weight: meta.weight,
      ghost: false,
      internal: nil,
      region: region
    }

    state = %{put_entry(state, id, entry) | refs: Map.put(state.refs, ref, id)}
    state = if meta.tag == :shutdown, do: %{state | shutdown_requested: true}, else: state
    write(state, id, body)
    {:noreply, state}
  end

  def handle_info({:"$pelemay_cancel", ref}, state) do
    case Map.fetch(state.refs, ref) do
      {:ok, id} ->
        entry = Map.fetch!(state.entries, id)
        state = answer(state, id, entry, {:error, cancelled_error()})
        {:noreply, abandon(state, id)}

      :error ->
        {:noreply, state}
    end
  end

  def handle_info({port, {:data, frame}}, %{port: port} = state) do
    case Proto.decode(:Response, frame) do
      {:ok, %{id: id, kind: kind}} ->
        handle_response(id, kind, state)

      {:error, error} ->
        kill_program(state)

        info = %{
          reason: :garbage_reply,
          detail: Exception.message(error),
          os_pid: state.os_pid,
          signal: nil,
          exit_status: nil
        }

        Logger.error(
          "PelemayBackend executor #{state.os_pid} sent a garbage reply (#{info.detail}); killed it"
        )

        die(state, :crashed, info, running_id(state))
    end
  end

  def handle_info({port, {:exit_status, status}}, %{port: port} = state) do
    if state.shutdown_requested and status == 0 do
      state = notify_down(state, %{reason: :shutdown, os_pid: state.os_pid}, nil)
      {:stop, {:shutdown, :requested}, %{state | port: nil}}
    else
      info = %{
        reason: :died,
        os_pid: state.os_pid,
        exit_status: status,
        signal: Error.signal_of_status(status)
      }

      Logger.warning("PelemayBackend executor #{state.os_pid} #{Error.describe_death(info)}")
      die(state, :crashed, info, running_id(state))
    end
  end

  def handle_info({:EXIT, port, reason}, %{port: port} = state) do
    # The port closed without an exit status (e.g. :epipe: writing to a
    # program that is gone). Make sure it is gone.
    kill_program(state)
    info = %{reason: {:port_closed, reason}, os_pid: state.os_pid, exit_status: nil, signal: nil}
    Logger.warning("PelemayBackend executor #{state.os_pid} #{Error.describe_death(info)}")
    die(state, :crashed, info, running_id(state))
  end

  def handle_info({:EXIT, _other, _reason}, state), do: {:noreply, state}

  def handle_info({:timeout, timer, {:deadline, id}}, state) do
    case Map.fetch(state.entries, id) do
      {:ok, %{timer: ^timer, ghost: true}} ->
        # A cancelled request the executor did not stop: it no longer obeys.
        kill_program(state)
        info = %{reason: :cancel_ignored, os_pid: state.os_pid, exit_status: nil, signal: nil}

        Logger.warning(
          "PelemayBackend executor #{state.os_pid} did not stop a cancelled request; killed it"
        )

        die(state, :killed, info, nil)

      {:ok, %{timer: ^timer} = entry} ->
        if entry.compute and id != running_id(state) do
          # Still queued: the executor is busy with others, not stuck on it.
          state =
            answer(state, id, entry, {:error, Error.timeout(entry.timeout, state.os_pid, false)})

          {:noreply, abandon(state, id)}
        else
          state =
            answer(state, id, entry, {:error, Error.timeout(entry.timeout, state.os_pid, true)})

          kill_program(state)

          info = %{
            reason: :killed_for_timeout,
            os_pid: state.os_pid,
            exit_status: nil,
            signal: nil
          }

          Logger.warning(
            "PelemayBackend executor #{state.os_pid}: a request passed its timeout of #{entry.timeout} ms; killed it"
          )

          die(state, :killed, info, nil)
        end

      _ ->
        {:noreply, state}
    end
  end

  def handle_info(:ready_timeout, %{ready: false} = state) do
    kill_program(state)
    info = %{reason: :not_ready, os_pid: state.os_pid, exit_status: nil, signal: nil}
    Logger.warning("PelemayBackend executor #{state.os_pid} #{Error.describe_death(info)}")
    die(state, :killed, info, nil)
  end

  def handle_info(_other, state), do: {:noreply, state}

  @impl true
  def terminate(_reason, %{port: nil} = state) do
    close_arena(state)
    :ok
  end

  def terminate(_reason, state) do
    # An ordinary shutdown (the supervisor, or a bug here): let every caller
    # know, then close the port. The program exits on end of input; one that
    # is computing might not stop soon, so it is killed.
    busy = Enum.any?(state.entries, fn {_, e} -> e.compute end)
    notify_down(state, %{reason: :stopped, os_pid: state.os_pid}, nil)
    unregister(state)
    if busy, do: kill_program(state)

    try do
      Port.close(state.port)
    rescue
      _ -> :ok
    end

    close_arena(state)
    :ok
  end

  ## Shared memory

  # The request's body and arena region: the run moved into the arena when
  # this executor has one and the run is large enough, else as encoded by
  # the caller (inline).
  defp maybe_arena(body, run, %{arena: arena} = state) when is_map(run) and arena != nil do
    with {:ok, run, region, arena} <- Arena.place(arena, run),
         {:ok, arena_body} <- encode_request({:run, run}) do
      {arena_body, region, %{state | arena: arena}}
    else
      {:error, _} -> {body, nil, state}
      :inline -> {body, nil, state}
    end
  end

  defp maybe_arena(body, _run, state), do: {body, nil, state}

  # The encoded rest of a prepared run (all but its program) and its arena
  # region: the inputs moved into the arena when this executor has one and
  # the run is large enough, else as the caller encoded them.
  defp arena_rest(%{run: run, rest: rest, prepared: prepared}, %{arena: arena} = state)
       when arena != nil do
    with {:ok, run, region, arena} <- Arena.place(arena, run, prepared.output_bytes),
         {:ok, arena_rest} <- Proto.encode(:RunRequest, run) do
      {arena_rest, region, %{state | arena: arena}}
    else
      _ -> {rest, nil, state}
    end
  end

  defp arena_rest(%{rest: rest}, state), do: {rest, nil, state}

  ## Compiled programs

  # How a prepared program is named in a run on this executor: by its id
  # once compiled, else inline; and whether to compile it now. A program is
  # compiled the second time this executor sees it: one whose encoding holds
  # values that change from call to call (a constant, a put_slice start)
  # would otherwise cost a compile and a release per call.
  defp program_source(%Prepared{encoded: encoded}, state) do
    case state.programs do
      %{^encoded => {id, _tick}} when is_integer(id) ->
        {{:program_id, id}, false, put_program(state, encoded, id)}

      %{^encoded => {:seen, _tick}} ->
        {{:program, encoded}, true, state}

      %{^encoded => {_pending_or_failed, _tick}} ->
        {{:program, encoded}, false, state}

      _ when state.program_capacity > 0 ->
        {{:program, encoded}, false, state |> put_program(encoded, :seen) |> evict_programs()}

      _ ->
        {{:program, encoded}, false, state}
    end
  end

  # Sets the table's state of a program and makes it the most recently used.
  defp put_program(state, encoded, value) do
    next = state.program_tick + 1
    ticks = forget_tick(state, encoded)

    %{
      state
      | programs: Map.put(state.programs, encoded, {value, next}),
        program_ticks: :gb_trees.insert(next, encoded, ticks),
        program_tick: next
    }
  end

  defp forget_program(state, encoded),
    do: %{
      state
      | programs: Map.delete(state.programs, encoded),
        program_ticks: forget_tick(state, encoded)
    }

  defp forget_tick(state, encoded) do
    case state.programs do
      %{^encoded => {_, tick}} -> :gb_trees.delete_any(tick, state.program_ticks)
      _ -> state.program_ticks
    end
  end

  # Sends a CompileRequest for `prepared` (after the run that carries it
  # inline) and makes room in the table.
  defp compile_program(state, %Prepared{encoded: encoded}) do
    {id, state} = take_id(state)
    state = put_entry(state, id, %{internal: {:compiled, encoded}, compute: true})
    compile = [<<0x0A>>, Wire.encode_varint(byte_size(encoded)), encoded]
    write(state, id, [<<0x1A>>, Wire.encode_varint(IO.iodata_length(compile)) | compile])

    put_program(state, encoded, :pending)
  end

  # Releases the least recently used programs beyond the capacity. A
  # pending one is forgotten here and released when its id arrives.
  defp evict_programs(state) do
    if map_size(state.programs) <= state.program_capacity do
      state
    else
      {_tick, encoded, ticks} = :gb_trees.take_smallest(state.program_ticks)
      {{value, _}, programs} = Map.pop(state.programs, encoded)
      state = %{state | programs: programs, program_ticks: ticks}
      state = if is_integer(value), do: release_program(state, value), else: state
      evict_programs(state)
    end
  end

  defp release_program(state, program_id) do
    {id, state} = take_id(state)
    state = put_entry(state, id, %{internal: :released, compute: false})
    release = [<<0x08>>, Wire.encode_varint(program_id)]
    write(state, id, [<<0x22>>, Wire.encode_varint(IO.iodata_length(release)) | release])
    state
  end

  defp free_region(state, %{region: {offset, _}}),
    do: %{state | arena: Arena.free(state.arena, offset)}

  defp free_region(state, _entry), do: state

  # Outputs the executor left in the arena, read back into binaries.
  defp arena_outputs({:run, %{outputs: outputs} = result}, %{arena: arena} = state)
       when arena != nil do
    case Arena.read_outputs(arena, outputs) do
      {:ok, outputs} ->
        {:run, %{result | outputs: outputs}}

      {:error, reason} ->
        {:error,
         %{
           code: :INTERNAL,
           message:
             "cannot read the outputs back from the arena #{arena.path}: #{inspect(reason)}"
         }}
    end
    |> then(&{&1, state})
  end

  defp arena_outputs(kind, state), do: {kind, state}

  ## Replies

  defp handle_response(id, kind, state) do
    case Map.pop(state.entries, id) do
      {nil, _} ->
        stray(id, kind, state)
        {:noreply, state}

      {entry, entries} ->
        state = %{state | entries: entries}
        cancel_timer(entry)

        cond do
          entry.internal != nil ->
            internal_reply(entry.internal, kind, state)

          Map.get(entry, :by_id) != nil and entry.ref != nil and
              match?({:error, %{code: :NOT_FOUND}}, kind) ->
            # The executor no longer has the program (released or evicted
            # meanwhile): forget its id and send the run again inline.
            {:noreply, resend_inline(state, entry)}

          entry.ghost or entry.ref == nil ->
            {:noreply, free_region(state, entry)}

          true ->
            # Read the outputs out of the arena first, then free the region.
            {kind, state} = arena_outputs(kind, state)
            {:noreply, reply(free_region(state, entry), entry, convert(kind, state))}
        end
    end
  end

  defp convert({:error, error}, state), do: {:error, Error.from_proto(error, state.os_pid)}
  defp convert({_tag, map}, _state) when is_map(map), do: {:ok, map}

  defp convert(nil, state),
    do:
      {:error,
       %Error{
         code: :internal,
         message: "the executor sent a response without a kind",
         os_pid: state.os_pid
       }}

  defp internal_reply(:ready, {:info, info}, state) do
    if state.ready_timer, do: Process.cancel_timer(state.ready_timer)

    state = %{
      state
      | ready: true,
        info: info,
        ready_timer: nil,
        program_capacity: min(state.program_capacity, Map.get(info, :program_cache_capacity, 0))
    }

    if state.table do
      try do
        :ets.insert(state.table, {{:exec, self()}, state.os_pid, 0})
      rescue
        ArgumentError -> :ok
      end
    end

    if state.manager, do: send(state.manager, {:executor_ready, self(), state.os_pid})
    {:noreply, state}
  end

  defp internal_reply(:ready, other, state) do
    kill_program(state)
    info = %{reason: {:bad_handshake, other}, os_pid: state.os_pid, exit_status: nil, signal: nil}
    Logger.error("PelemayBackend executor #{state.os_pid} answered info with #{inspect(other)}")
    die(state, :killed, info, nil)
  end

  defp internal_reply({:compiled, encoded}, {:compile, %{program_id: program_id}}, state) do
    case state.programs do
      %{^encoded => {:pending, tick}} ->
        {:noreply, %{state | programs: Map.put(state.programs, encoded, {program_id, tick})}}

      _ ->
        # Evicted while it compiled: nobody will run it by this id.
        {:noreply, release_program(state, program_id)}
    end
  end

  defp internal_reply({:compiled, encoded}, {:error, %{code: code}}, state)
       when code in [:INVALID_ARGUMENT, :UNSUPPORTED] do
    # Refused for good: its runs stay inline, and each gets the executor's
    # error.
    case state.programs do
      %{^encoded => {:pending, tick}} ->
        {:noreply, %{state | programs: Map.put(state.programs, encoded, {:failed, tick})}}

      _ ->
        {:noreply, state}
    end
  end

  defp internal_reply({:compiled, encoded}, _other_error, state) do
    # Not compiled this time (e.g. RESOURCE_EXHAUSTED): forgotten, so that
    # a later run may try again.
    case state.programs do
      %{^encoded => {:pending, _tick}} -> {:noreply, forget_program(state, encoded)}
      _ -> {:noreply, state}
    end
  end

  defp internal_reply(_internal, _kind, state), do: {:noreply, state}

  defp resend_inline(state, %{prepared: %Prepared{encoded: encoded}, by_id: program_id} = entry) do
    # Forget the id it was sent by (unless the table has moved on to
    # another id for this program meanwhile).
    state =
      case state.programs do
        %{^encoded => {^program_id, _}} -> forget_program(state, encoded)
        _ -> state
      end

    {id, state} = take_id(state)
    timer = :erlang.start_timer(entry.deadline, self(), {:deadline, id}, abs: true)
    entry = %{entry | timer: timer, by_id: nil}
    state = %{put_entry(state, id, entry) | refs: Map.put(state.refs, entry.ref, id)}
    write(state, id, run_body({:program, encoded}, entry.rest))
    state
  end

  defp stray(0, {:error, error}, state) do
    Logger.error(
      "PelemayBackend executor #{state.os_pid} rejected a frame: #{inspect(error.code)} #{error.message}"
    )
  end

  defp stray(_id, _kind, _state), do: :ok

  # Answers the caller of entry `id` now and keeps the entry.
  defp answer(state, id, entry, result) do
    state = reply(state, entry, result)
    %{state | entries: Map.put(state.entries, id, %{entry | ref: nil})}
  end

  # Sends `result` to the caller of `entry`, forgets its ref, releases its
  # slot in the pool's in-flight count.
  defp reply(state, %{ref: nil}, _result), do: state

  defp reply(state, %{ref: ref} = entry, result) do
    # The slot first: a caller holding its reply sees the count lowered.
    if entry.weight > 0, do: release_slot(state, entry.weight)
    send(ref, {ref, result})
    %{state | refs: Map.delete(state.refs, ref)}
  end

  # Turns a request whose caller has been answered into a ghost: the executor
  # is asked to cancel it, and must answer within the grace period.
  defp abandon(state, id) do
    case Map.fetch(state.entries, id) do
      {:ok, %{internal: nil} = entry} ->
        cancel_timer(entry)
        timer = :erlang.start_timer(now() + @cancel_grace, self(), {:deadline, id}, abs: true)

        state = %{
          state
          | entries: Map.put(state.entries, id, %{entry | ghost: true, ref: nil, timer: timer})
        }

        {:ok, body} = encode_request({:cancel, %{target_id: id}})
        {cid, state} = take_id(state)
        state = put_entry(state, cid, %{internal: :cancel_ack, compute: false})
        write(state, cid, body)
        state

      _ ->
        state
    end
  end

  ## Death

  # The program is dead (or killed): tell every caller, leave the pool, stop.
  defp die(state, kind, info, suspect) do
    state = notify_down(state, info, suspect)
    unregister(state)
    {:stop, {:shutdown, {kind, info}}, %{state | port: nil}}
  end

  defp notify_down(state, info, suspect) do
    Enum.reduce(state.entries, state, fn
      {id, %{ref: ref} = entry}, state when ref != nil ->
        reply(state, entry, {:executor_down, Map.put(info, :blamed, id == suspect)})

      _, state ->
        state
    end)
    |> Map.put(:entries, %{})
  end

  # The request the executor is computing: the oldest run or compile it has
  # not answered (the compute thread takes them in arrival order).
  defp running_id(state) do
    state.entries
    |> Enum.filter(fn {_id, e} -> e.compute end)
    |> Enum.map(&elem(&1, 0))
    |> Enum.min(fn -> nil end)
  end

  defp kill_program(%{os_pid: os_pid}) when is_integer(os_pid) do
    pid = Integer.to_string(os_pid)

    case System.find_executable("kill") do
      nil -> :os.cmd(String.to_charlist("kill -9 " <> pid))
      kill -> System.cmd(kill, ["-KILL", pid], stderr_to_stdout: true)
    end

    :ok
  end

  defp kill_program(_state), do: :ok

  defp unregister(%{table: nil}), do: :ok

  defp unregister(%{table: table}) do
    :ets.delete(table, {:exec, self()})
    :ok
  rescue
    ArgumentError -> :ok
  end

  defp release_slot(%{table: nil}, _weight), do: :ok

  defp release_slot(%{table: table}, weight) do
    :ets.update_counter(table, {:exec, self()}, {3, -weight, 0, 0})
    :ok
  rescue
    ArgumentError -> :ok
  end

  ## Plumbing

  defp take_id(state), do: {state.next_id, %{state | next_id: state.next_id + 1}}

  defp put_entry(state, id, %{internal: _} = entry) do
    entry =
      Map.merge(
        %{ref: nil, timer: nil, weight: 0, ghost: false, timeout: nil, region: nil},
        entry
      )

    %{state | entries: Map.put(state.entries, id, entry)}
  end

  defp write(state, id, body) do
    Port.command(state.port, [<<8>>, Wire.encode_varint(id), body])
    :ok
  rescue
    # The port is closed: its exit status is on its way and answers everyone.
    ArgumentError -> :ok
  end

  defp cancel_timer(%{timer: nil}), do: :ok
  defp cancel_timer(%{timer: timer}), do: :erlang.cancel_timer(timer, async: true, info: false)
end
