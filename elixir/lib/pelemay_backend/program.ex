defmodule PelemayBackend.Program do
  @moduledoc """
  Builds executor programs (`pelemay.v1.Program` maps) one instruction at a
  time, checking each against the op catalogue (`PelemayBackend.OpCatalogue`)
  as it goes. Plain Elixir: the Nx backend uses it, and so can anything
  else that wants a computation run in the executor.

      iex> alias PelemayBackend.Program
      iex> p = Program.new()
      iex> {p, a} = Program.input(p, {:f, 32}, [2, 3])
      iex> {p, b} = Program.input(p, {:f, 32}, [3])
      iex> {p, b} = Program.broadcast_to(p, b, [2, 3])
      iex> {p, sum} = Program.op(p, "add", [a, b], {:f, 32}, [2, 3])
      iex> {p, total} = Program.op(p, "sum", [sum], {:f, 32}, [], axes: [0, 1])
      iex> Program.type(p, total)
      {{:f, 32}, []}
      iex> length(Program.to_proto(p, [sum, total]).instructions)
      3

  Values are the program's SSA numbers: the inputs are `0..n-1` (declare
  every input before the first instruction), then one value per
  instruction. A value's type is `{nx_type, dims}` with `dims` a list.
  Mistakes a caller can make (an unknown op, a wrong number of operands, an
  operand dtype the op does not take, an undefined value) raise
  `ArgumentError` here, before anything is sent; shape rules are the
  executor's to check, and its errors come back as `PelemayBackend.Error`.
  """

  alias PelemayBackend.{OpCatalogue, Types}
  alias PelemayBackend.Program.Prepared

  defstruct inputs: [], instructions: [], types: %{}, next: 0

  @type value :: non_neg_integer()
  @type vtype :: {Types.nx_type(), [non_neg_integer()]}
  @type t :: %__MODULE__{}

  @doc "An empty program."
  @spec new() :: t()
  def new, do: %__MODULE__{}

  @doc "Declares the next input, of `type` and `dims`; returns its value."
  @spec input(t(), Types.nx_type(), [non_neg_integer()]) :: {t(), value()}
  def input(%__MODULE__{instructions: []} = p, type, dims) when is_list(dims) do
    Types.to_dtype(type)
    v = p.next

    {%{
       p
       | inputs: [{type, dims} | p.inputs],
         types: Map.put(p.types, v, {type, dims}),
         next: v + 1
     }, v}
  end

  def input(%__MODULE__{}, _type, _dims),
    do: raise(ArgumentError, "declare every input before the first instruction")

  @doc """
  Appends instruction `name` on `operands` with result `type` and `dims`,
  and attributes `attrs` (a keyword list or map of `pelemay.v1.Attributes`
  fields, e.g. `axes: [0]`). Returns the result's value.
  """
  @spec op(t(), String.t(), [value()], Types.nx_type(), [non_neg_integer()], keyword() | map()) ::
          {t(), value()}
  def op(%__MODULE__{} = p, name, operands, type, dims, attrs \\ []) when is_list(dims) do
    spec = OpCatalogue.fetch!(name)
    check_arity!(spec, operands)

    Enum.each(operands, fn v ->
      {t, _} = type(p, v)

      unless OpCatalogue.dtype_class_accepts?(spec.dtypes, t) do
        raise ArgumentError,
              "the executor's #{name} does not take #{inspect(t)} operands (it takes #{spec.dtypes})"
      end
    end)

    attrs = Map.new(attrs)

    case Map.keys(attrs) -- spec.attrs do
      [] -> :ok
      extra -> raise ArgumentError, "#{name} has no attributes #{inspect(extra)}"
    end

    instruction = %{
      op: name,
      operands: operands,
      result: %{dtype: Types.to_dtype(type), shape: dims},
      attrs: attrs
    }

    v = p.next

    {%{
       p
       | instructions: [instruction | p.instructions],
         types: Map.put(p.types, v, {type, dims}),
         next: v + 1
     }, v}
  end

  defp check_arity!(%{arity: -1, name: name}, []),
    do: raise(ArgumentError, "#{name} needs at least one operand")

  defp check_arity!(%{arity: -1}, _), do: :ok
  defp check_arity!(%{arity: n}, operands) when length(operands) == n, do: :ok

  defp check_arity!(%{arity: n, name: name}, operands),
    do: raise(ArgumentError, "#{name} takes #{n} operands, got #{length(operands)}")

  @doc "The type `{nx_type, dims}` of a value; raises for a value not defined yet."
  @spec type(t(), value()) :: vtype()
  def type(%__MODULE__{types: types}, v) do
    case types do
      %{^v => type} -> type
      _ -> raise ArgumentError, "value #{inspect(v)} is not defined in this program"
    end
  end

  ## Derived builders: what every caller would otherwise write by hand

  @doc "`v` converted to `type` (an `as_type` instruction, or `v` when it already is)."
  @spec convert(t(), value(), Types.nx_type()) :: {t(), value()}
  def convert(p, v, type) do
    case type(p, v) do
      {^type, _} -> {p, v}
      {_, dims} -> op(p, "as_type", [v], type, dims)
    end
  end

  @doc """
  `v` broadcast to `dims` with Nx's rule: dimensions aligned on the right,
  each equal or 1 (`v` itself when its dims already are `dims`).
  """
  @spec broadcast_to(t(), value(), [non_neg_integer()]) :: {t(), value()}
  def broadcast_to(p, v, dims) do
    {type, from} = type(p, v)

    cond do
      from == dims ->
        {p, v}

      length(from) > length(dims) ->
        raise ArgumentError, "cannot broadcast #{inspect(from)} to #{inspect(dims)}"

      true ->
        offset = length(dims) - length(from)

        op(p, "broadcast", [v], type, dims,
          axes: Enum.to_list(offset..(offset + length(from) - 1)//1)
        )
    end
  end

  @doc "`v` reshaped to `dims` (same number of elements), or `v` when already so."
  @spec reshape(t(), value(), [non_neg_integer()]) :: {t(), value()}
  def reshape(p, v, dims) do
    case type(p, v) do
      {_, ^dims} -> {p, v}
      {type, _} -> op(p, "reshape", [v], type, dims)
    end
  end

  @doc "The `pelemay.v1.Program` map whose outputs are `outputs`, in that order."
  @spec to_proto(t(), [value()]) :: map()
  def to_proto(%__MODULE__{} = p, outputs) do
    Enum.each(outputs, &type(p, &1))

    %{
      inputs:
        p.inputs
        |> Enum.reverse()
        |> Enum.map(fn {type, dims} -> %{dtype: Types.to_dtype(type), shape: dims} end),
      instructions: Enum.reverse(p.instructions),
      outputs: outputs
    }
  end

  ## Tensors

  @doc "A `pelemay.v1.Tensor` map holding `data` (row-major, little-endian bytes)."
  @spec tensor(Types.nx_type(), [non_neg_integer()], iodata()) :: map()
  def tensor(type, dims, data),
    do: %{dtype: Types.to_dtype(type), shape: dims, payload: {:data, data}}

  @doc """
  Runs the program with `outputs` on `inputs` (`{type, dims, binary}` each, in
  input order) through `PelemayBackend.run/3` (`opts` go there), as a
  `PelemayBackend.Program.Prepared` program, so that each executor compiles
  it once and runs later calls of the same program by id. Returns
  `{:ok, [binary]}`, one per output, or `{:error, %PelemayBackend.Error{}}`.
  """
  @spec run(t(), [value()], [{Types.nx_type(), [non_neg_integer()], iodata()}], keyword()) ::
          {:ok, [binary()]} | {:error, PelemayBackend.Error.t()}
  def run(%__MODULE__{} = p, outputs, inputs, opts \\ []) do
    tensors = Enum.map(inputs, fn {type, dims, data} -> tensor(type, dims, data) end)

    prepared = Prepared.cached(to_proto(p, outputs))

    with {:ok, results} <- PelemayBackend.run(prepared, tensors, opts) do
      {:ok, Enum.map(results, &payload_binary/1)}
    end
  end

  defp payload_binary(%{payload: {:data, data}}), do: IO.iodata_to_binary(data)
end
