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

  alias PelemayBackend.{Arena, Proto}

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
end
