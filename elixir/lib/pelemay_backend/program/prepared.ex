defmodule PelemayBackend.Program.Prepared do
  @moduledoc """
  A program encoded once, so that it can be run many times and compiled once
  per executor.

  `PelemayBackend.run/3`, `PelemayBackend.Pool.run/4` and
  `PelemayBackend.Executor.run/4` accept it wherever they accept a program
  map. The executor process that runs it keeps a table from the encoded
  program to the id its executor compiled it under
  (`pelemay.v1.CompileRequest`): the first two runs of a program on an
  executor travel inline, the second followed by a compile; every later run
  on that executor names the program by id, so the executor neither parses
  nor validates it again. The table is bounded (least recently used programs are
  released), dies with its executor, and a run whose id the executor no
  longer knows (`NOT_FOUND`) is sent again inline, so callers never see the
  difference.

  The encoded program is its own key: two programs are the same program
  exactly when their encodings are equal.

      iex> alias PelemayBackend.Program
      iex> p = Program.new()
      iex> {p, a} = Program.input(p, {:f, 32}, [2])
      iex> {p, b} = Program.op(p, "exp", [a], {:f, 32}, [2])
      iex> prepared = Program.Prepared.new(Program.to_proto(p, [b]))
      iex> prepared.output_bytes
      [8]
  """

  use GenServer

  alias PelemayBackend.{Arena, Proto}

  # The memo of cached/1: program map => Prepared. Owned by the process of
  # start_link/1, which the application starts.
  @table __MODULE__
  @capacity 1024
  # Larger programs are encoded every time rather than kept.
  @max_cached_instructions 64

  @enforce_keys [:encoded, :output_bytes]
  defstruct [:encoded, :output_bytes]

  @type t :: %__MODULE__{encoded: binary(), output_bytes: [non_neg_integer()]}

  @doc """
  Encodes `program` (a `pelemay.v1.Program` map, e.g. from
  `PelemayBackend.Program.to_proto/2`). Raises `ArgumentError` when it
  cannot be encoded.
  """
  @spec new(map()) :: t()
  def new(program) when is_map(program) do
    case Proto.encode(:Program, program) do
      {:ok, iodata} ->
        %__MODULE__{
          encoded: IO.iodata_to_binary(iodata),
          output_bytes: Arena.output_sizes(%{source: {:program, program}})
        }

      {:error, error} ->
        raise ArgumentError, "the program cannot be encoded: " <> Exception.message(error)
    end
  end

  @doc """
  As `new/1`, but remembers the result for the next call with an equal
  program: the Nx backend builds the same small program for every call of
  an op on the same shapes and types, and looking it up (about 1 us) costs
  a fraction of encoding it again (about 7 us for a one-instruction
  program).

  The memo is an ETS table of programs of at most
  #{@max_cached_instructions} instructions each. An insert that finds
  #{@capacity} programs there empties it first, so it holds at most
  #{@capacity} (plus one per caller inserting at that same moment) and a
  working set that fits is rebuilt once.
  Without the application running (no table), this is `new/1`.
  """
  @spec cached(map()) :: t()
  def cached(program), do: cached(program, @table, @capacity)

  @doc false
  # The memo in `table`, holding at most `capacity` programs (tests).
  def cached(%{instructions: instructions} = program, table, capacity)
      when length(instructions) <= @max_cached_instructions do
    :ets.lookup_element(table, program, 2)
  rescue
    ArgumentError -> remember(program, table, capacity)
  end

  def cached(program, _table, _capacity), do: new(program)

  defp remember(program, table, capacity) do
    prepared = new(program)

    case :ets.info(table, :size) do
      :undefined ->
        prepared

      size ->
        if size >= capacity, do: :ets.delete_all_objects(table)
        :ets.insert(table, {program, prepared})
        prepared
    end
  end

  @doc false
  # The owner of the memo's table, started by PelemayBackend.Application.
  def start_link(_opts), do: GenServer.start_link(__MODULE__, @table, name: __MODULE__)

  @doc false
  def new_table(name, opts \\ [:named_table]),
    do: :ets.new(name, opts ++ [:set, :public, read_concurrency: true, write_concurrency: true])

  @impl GenServer
  def init(table) do
    new_table(table)
    {:ok, nil, :hibernate}
  end
end
