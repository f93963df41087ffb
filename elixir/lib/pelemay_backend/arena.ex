defmodule PelemayBackend.Arena do
  @moduledoc """
  The shared-memory arena of an executor: a fixed-size file in a RAM-backed
  directory (`/dev/shm` on Linux) that the BEAM owns and the executor maps
  (`--arena PATH`, `shared_mem/arena.h`). Large tensors cross the process
  boundary through it instead of the pipe: the BEAM writes inputs into it
  with positioned writes, the executor computes on them in place and writes
  outputs straight into it, the BEAM reads them back with positioned reads.

  ## Ownership and names

  An arena is named `pelemay-arena-<owner OS pid>-<n>`. Its owner (a pool's
  manager, or a stand-alone `PelemayBackend.Executor` started with
  `:arena_size`) creates it, hands its path to each executor it starts, and
  removes it when it stops. It outlives the executors: one that crashes is
  replaced by one that maps the same file. `cleanup_orphans/1` removes the
  arenas whose owner OS process is gone (a BEAM that was killed); a pool
  calls it when it starts.

  The file is created sparse: it costs no memory until a request uses a
  range. Before a range is handed to the executor, `ensure_allocated/3`
  allocates its pages (`:file.allocate/3`, i.e. `fallocate`), so a full
  RAM disk is an error the BEAM sees (the request then travels inline),
  never a `SIGBUS` in the executor. Pages once allocated stay until the
  arena is removed: an executor's arena holds as much RAM as the largest
  set of requests it had in flight at once.

  ## Space

  Only the executor's process (`PelemayBackend.Executor`) allocates in its
  arena, so there is no sharing to coordinate: each `run` that uses the
  arena gets one region of its own, first fit (`alloc/2`), holding its
  inputs and room for its outputs; the region is freed when the executor has
  answered that request (or died). Pipelined requests therefore never share
  a byte. A request whose region does not fit — the arena is too small or
  full of requests in flight — travels inline: the arena never makes a
  request fail.
  """

  import Bitwise

  @align 64
  @prefix "pelemay-arena-"

  @dtype_bytes %{
    DTYPE_S8: 1,
    DTYPE_U8: 1,
    DTYPE_S16: 2,
    DTYPE_U16: 2,
    DTYPE_F16: 2,
    DTYPE_BF16: 2,
    DTYPE_S32: 4,
    DTYPE_U32: 4,
    DTYPE_F32: 4,
    DTYPE_S64: 8,
    DTYPE_U64: 8,
    DTYPE_F64: 8,
    DTYPE_C64: 8,
    DTYPE_C128: 16
  }

  defstruct [:path, :fd, :size, :threshold, used: [], allocated: 0]

  @type t :: %__MODULE__{
          path: String.t(),
          fd: term(),
          size: non_neg_integer(),
          threshold: non_neg_integer(),
          used: [{non_neg_integer(), pos_integer()}],
          allocated: non_neg_integer()
        }

  ## Files

  @doc "Where arenas go: `/dev/shm` where it exists (Linux), else the system's temporary directory."
  @spec default_dir() :: String.t()
  def default_dir do
    if File.dir?("/dev/shm"), do: "/dev/shm", else: System.tmp_dir!()
  end

  @doc "The OS pid of this BEAM."
  def os_pid, do: String.to_integer(System.pid())

  @doc """
  Creates a new arena file of `size` bytes in `dir` (sparse: no memory is
  used until requests use it) and returns its path.
  """
  @spec create(pos_integer(), String.t()) :: {:ok, String.t()} | {:error, term()}
  def create(size, dir \\ default_dir()) when is_integer(size) and size > 0 do
    name = @prefix <> "#{os_pid()}-#{System.unique_integer([:positive, :monotonic])}"
    path = Path.join(dir, name)

    with {:ok, fd} <- :file.open(path, [:raw, :read, :write, :binary, :exclusive]) do
      result = with {:ok, _} <- :file.position(fd, size), do: :file.truncate(fd)

      :file.close(fd)

      case result do
        :ok ->
          {:ok, path}

        {:error, _} = error ->
          File.rm(path)
          error
      end
    end
  end

  @doc "Removes an arena file (no error if it is already gone)."
  @spec remove(String.t() | nil) :: :ok
  def remove(nil), do: :ok

  def remove(path) do
    File.rm(path)
    :ok
  end

  @doc "The owner OS pid and number of an arena file name, or `:error`."
  @spec parse_name(String.t()) :: {:ok, {pos_integer(), pos_integer()}} | :error
  def parse_name(@prefix <> rest) do
    with [pid, n] <- String.split(rest, "-"),
         {pid, ""} <- Integer.parse(pid),
         {n, ""} <- Integer.parse(n),
         true <- pid > 0 and n >= 0 do
      {:ok, {pid, n}}
    else
      _ -> :error
    end
  end

  def parse_name(_), do: :error

  @doc "The arena files in `dir` owned by the OS process `pid`."
  @spec files_of(pos_integer(), String.t()) :: [String.t()]
  def files_of(pid, dir \\ default_dir()) do
    for name <- list(dir), match?({:ok, {^pid, _}}, parse_name(name)), do: Path.join(dir, name)
  end

  @doc """
  Removes the arenas in `dir` whose owner OS process no longer exists (a BEAM
  that was killed, so never removed them). Returns the paths removed.
  """
  @spec cleanup_orphans(String.t()) :: [String.t()]
  def cleanup_orphans(dir \\ default_dir()) do
    for name <- list(dir),
        {:ok, {pid, _}} <- [parse_name(name)],
        not os_process_alive?(pid) do
      path = Path.join(dir, name)
      File.rm(path)
      path
    end
  end

  defp list(dir) do
    case File.ls(dir) do
      {:ok, names} -> Enum.filter(names, &String.starts_with?(&1, @prefix))
      {:error, _} -> []
    end
  end

  @doc "Whether an OS process with this pid exists."
  @spec os_process_alive?(pos_integer()) :: boolean()
  def os_process_alive?(pid) do
    cond do
      pid == os_pid() ->
        true

      File.dir?("/proc/self") ->
        File.exists?("/proc/#{pid}")

      kill = System.find_executable("kill") ->
        {_, status} = System.cmd(kill, ["-0", Integer.to_string(pid)], stderr_to_stdout: true)
        status == 0

      true ->
        true
    end
  end

  ## Using an arena (from the executor's process only: raw files belong to
  ## the process that opened them)

  @doc "Opens the arena at `path` for positioned reads and writes."
  @spec open(String.t(), non_neg_integer()) :: {:ok, t()} | {:error, term()}
  def open(path, threshold) do
    with {:ok, %File.Stat{size: size}} when size > 0 <- File.stat(path),
         {:ok, fd} <- :file.open(path, [:raw, :read, :write, :binary]) do
      {:ok, %__MODULE__{path: path, fd: fd, size: size, threshold: threshold}}
    else
      {:ok, %File.Stat{}} -> {:error, :empty}
      {:error, _} = error -> error
    end
  end

  @doc "Closes the arena's file (the file stays)."
  def close(%__MODULE__{fd: fd}), do: :file.close(fd)

  @doc "Rounds up to the arena's alignment (64 bytes)."
  def align(n), do: n + @align - 1 &&& -@align

  @doc """
  Allocates `len` bytes (a multiple of 64) first fit: `{:ok, offset, arena}`
  or `:full`.
  """
  @spec alloc(t(), pos_integer()) :: {:ok, non_neg_integer(), t()} | :full
  def alloc(%__MODULE__{} = arena, len) when len > 0 do
    case first_fit(arena.used, 0, len, arena.size) do
      nil -> :full
      offset -> {:ok, offset, %{arena | used: Enum.sort([{offset, len} | arena.used])}}
    end
  end

  defp first_fit([], cursor, len, size), do: if(cursor + len <= size, do: cursor)

  defp first_fit([{off, used} | rest], cursor, len, size) do
    if cursor + len <= off, do: cursor, else: first_fit(rest, off + used, len, size)
  end

  @doc "Frees the region at `offset`."
  @spec free(t(), non_neg_integer()) :: t()
  def free(%__MODULE__{} = arena, offset),
    do: %{arena | used: List.keydelete(arena.used, offset, 0)}

  @doc "Bytes allocated to requests now."
  def in_use(%__MODULE__{used: used}), do: used |> Enum.map(&elem(&1, 1)) |> Enum.sum()

  @doc """
  Makes sure the file's pages up to `upto` exist (`fallocate`), so the
  executor never writes into a hole a full RAM disk cannot fill.
  """
  @spec ensure_allocated(t(), non_neg_integer()) :: {:ok, t()} | {:error, term()}
  def ensure_allocated(%__MODULE__{allocated: done} = arena, upto) when upto <= done,
    do: {:ok, arena}

  def ensure_allocated(%__MODULE__{} = arena, upto) do
    case :file.allocate(arena.fd, arena.allocated, upto - arena.allocated) do
      :ok -> {:ok, %{arena | allocated: upto}}
      {:error, _} = error -> error
    end
  end

  @doc """
  Moves a `RunRequest` map into the arena: each input whose inline data has
  at least `threshold` bytes is written into a region allocated for this
  request and replaced by an `ArenaRef`; room is reserved behind them for
  each output of at least `threshold` bytes (`output_arena`). Returns
  `{:ok, run, region, arena}` (`region = {offset, length}`, to `free/2` when
  the executor has answered) or `:inline` when nothing is large enough, the
  region does not fit, or the file cannot take it. The output sizes come
  from the run's inline program, or from `sizes` when given (a prepared
  program's, for a run that names it by id).
  """
  @spec place(t(), map(), [non_neg_integer()] | nil) ::
          {:ok, map(), {non_neg_integer(), pos_integer()}, t()} | :inline
  def place(%__MODULE__{} = arena, run, sizes \\ nil) do
    min = max(arena.threshold, 1)
    inputs = Map.get(run, :inputs, [])

    {placed, input_bytes} =
      Enum.map_reduce(inputs, 0, fn
        %{payload: {:data, bin}} = t, acc when is_binary(bin) and byte_size(bin) >= min ->
          {{:arena, t, bin, acc}, acc + align(byte_size(bin))}

        t, acc ->
          {{:inline, t}, acc}
      end)

    output_bytes =
      (sizes || output_sizes(run))
      |> Enum.filter(&(&1 >= min))
      |> Enum.map(&align/1)
      |> Enum.sum()

    total = input_bytes + output_bytes

    with true <- total > 0,
         {:ok, base, arena} <- alloc(arena, total),
         {:ok, arena} <- allocated_or_free(arena, base, total),
         :ok <- write_inputs(arena, base, placed) do
      new_inputs =
        Enum.map(placed, fn
          {:inline, t} ->
            t

          {:arena, t, bin, rel} ->
            %{t | payload: {:arena, %{offset: base + rel, length: byte_size(bin)}}}
        end)

      run = %{run | inputs: new_inputs}

      run =
        if output_bytes > 0,
          do:
            Map.merge(run, %{
              output_arena: %{offset: base + input_bytes, length: output_bytes},
              output_arena_min_bytes: min
            }),
          else: run

      {:ok, run, {base, total}, arena}
    else
      _ -> :inline
    end
  end

  defp allocated_or_free(arena, base, total) do
    case ensure_allocated(arena, base + total) do
      {:ok, arena} -> {:ok, arena}
      {:error, _} -> {:error, free(arena, base)}
    end
  end

  defp write_inputs(arena, base, placed) do
    writes = for {:arena, _t, bin, rel} <- placed, do: {base + rel, bin}

    case writes do
      [] ->
        :ok

      _ ->
        case :file.pwrite(arena.fd, writes) do
          :ok -> :ok
          {:error, _} -> :error
        end
    end
  end

  @doc """
  Replaces every `arena` payload among `outputs` (tensor maps of a
  `RunResult`) by its bytes, read from the arena: `{:ok, outputs}` or
  `{:error, reason}`.
  """
  @spec read_outputs(t(), [map()]) :: {:ok, [map()]} | {:error, term()}
  def read_outputs(%__MODULE__{} = arena, outputs) do
    Enum.reduce_while(outputs, {:ok, []}, fn
      %{payload: {:arena, ref}} = t, {:ok, acc} ->
        offset = Map.get(ref, :offset, 0)
        length = Map.get(ref, :length, 0)

        case read(arena, offset, length) do
          {:ok, bin} -> {:cont, {:ok, [%{t | payload: {:data, bin}} | acc]}}
          {:error, _} = error -> {:halt, error}
        end

      t, {:ok, acc} ->
        {:cont, {:ok, [t | acc]}}
    end)
    |> case do
      {:ok, list} -> {:ok, Enum.reverse(list)}
      error -> error
    end
  end

  defp read(_arena, _offset, 0), do: {:ok, <<>>}

  defp read(arena, offset, length) do
    if offset + length > arena.size do
      {:error, {:outside_arena, offset, length}}
    else
      case :file.pread(arena.fd, offset, length) do
        {:ok, bin} when byte_size(bin) == length -> {:ok, bin}
        {:ok, _short} -> {:error, :short_read}
        :eof -> {:error, :eof}
        {:error, _} = error -> error
      end
    end
  end

  @doc """
  The byte size of each output of a run whose program is inline (`[]` for a
  run by `program_id` alone: its outputs are not known here and travel
  inline; `PelemayBackend.Program.Prepared` runs carry their sizes).
  """
  @spec output_sizes(map()) :: [non_neg_integer()]
  def output_sizes(%{source: {:program, program}}) do
    inputs = Map.get(program, :inputs, [])
    results = Enum.map(Map.get(program, :instructions, []), &Map.get(&1, :result, %{}))
    types = List.to_tuple(inputs ++ results)

    for v <- Map.get(program, :outputs, []) do
      if is_integer(v) and v >= 0 and v < tuple_size(types),
        do: type_bytes(elem(types, v)),
        else: 0
    end
  end

  def output_sizes(_run), do: []

  defp type_bytes(%{dtype: dtype} = type) do
    case Map.fetch(@dtype_bytes, dtype) do
      {:ok, size} ->
        type |> Map.get(:shape, []) |> Enum.reduce(size, fn d, acc -> acc * max(d, 0) end)

      :error ->
        0
    end
  end

  defp type_bytes(_), do: 0
end
