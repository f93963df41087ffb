defmodule PelemayBackend.Types do
  @moduledoc """
  Nx's type tuples and the protocol's dtypes, with no dependency on Nx.

      iex> PelemayBackend.Types.to_dtype({:bf, 16})
      :DTYPE_BF16
      iex> PelemayBackend.Types.from_dtype(:DTYPE_U8)
      {:u, 8}
      iex> PelemayBackend.Types.byte_size({:c, 64})
      8

  Booleans are `{:u, 8}`, as in Nx.
  """

  @type nx_type ::
          {:s, 8 | 16 | 32 | 64}
          | {:u, 8 | 16 | 32 | 64}
          | {:f, 16 | 32 | 64}
          | {:bf, 16}
          | {:c, 64 | 128}

  @pairs [
    {{:s, 8}, :DTYPE_S8},
    {{:s, 16}, :DTYPE_S16},
    {{:s, 32}, :DTYPE_S32},
    {{:s, 64}, :DTYPE_S64},
    {{:u, 8}, :DTYPE_U8},
    {{:u, 16}, :DTYPE_U16},
    {{:u, 32}, :DTYPE_U32},
    {{:u, 64}, :DTYPE_U64},
    {{:f, 16}, :DTYPE_F16},
    {{:f, 32}, :DTYPE_F32},
    {{:f, 64}, :DTYPE_F64},
    {{:bf, 16}, :DTYPE_BF16},
    {{:c, 64}, :DTYPE_C64},
    {{:c, 128}, :DTYPE_C128}
  ]

  @doc "Every Nx type the executor has."
  @spec all() :: [nx_type()]
  def all, do: Enum.map(@pairs, &elem(&1, 0))

  @doc "The protocol dtype of an Nx type; raises `ArgumentError` for another term."
  @spec to_dtype(nx_type()) :: atom()
  for {type, dtype} <- @pairs, do: def(to_dtype(unquote(type)), do: unquote(dtype))

  def to_dtype(other),
    do: raise(ArgumentError, "not an Nx type the executor has: #{inspect(other)}")

  @doc "The Nx type of a protocol dtype."
  @spec from_dtype(atom()) :: nx_type()
  for {type, dtype} <- @pairs, do: def(from_dtype(unquote(dtype)), do: unquote(type))
  def from_dtype(other), do: raise(ArgumentError, "not a dtype: #{inspect(other)}")

  @doc "Bytes per element."
  @spec byte_size(nx_type()) :: pos_integer()
  def byte_size({_, bits}), do: div(bits, 8)

  @doc "Elements in a shape (a tuple or a list of dimensions)."
  @spec size(tuple() | [non_neg_integer()]) :: non_neg_integer()
  def size(shape) when is_tuple(shape), do: size(Tuple.to_list(shape))
  def size(dims) when is_list(dims), do: Enum.reduce(dims, 1, &(&1 * &2))

  @doc "The real type of a complex type (the type of its parts); other types are themselves."
  @spec real_type(nx_type()) :: nx_type()
  def real_type({:c, 64}), do: {:f, 32}
  def real_type({:c, 128}), do: {:f, 64}
  def real_type(type), do: type

  @doc """
  The floating-point type an integer type becomes where an op needs floats,
  as Nx's `Nx.Type.to_floating/1`: `{:f, 32}` for integers, the type itself
  for floats and complex.
  """
  @spec to_floating(nx_type()) :: nx_type()
  def to_floating({k, _}) when k in [:s, :u], do: {:f, 32}
  def to_floating(type), do: type

  @doc """
  Nx's type promotion of two types (`Nx.Type.merge/2`), for binary ops: the
  type of the higher class (u < s < bf < f < c) wins, the larger size within
  a class; unsigned with signed gives a signed type wide enough for both
  (at most 64 bits).

      iex> PelemayBackend.Types.merge({:s, 8}, {:u, 8})
      {:s, 16}
      iex> PelemayBackend.Types.merge({:s, 64}, {:f, 16})
      {:f, 16}
      iex> PelemayBackend.Types.merge({:bf, 16}, {:f, 16})
      {:f, 16}
  """
  @spec merge(nx_type(), nx_type()) :: nx_type()
  def merge({kind, left}, {kind, right}), do: {kind, max(left, right)}

  def merge(left, right) do
    case if(rank(left) < rank(right), do: {left, right}, else: {right, left}) do
      {{:u, size1}, {:s, size2}} -> {:s, max(min(size1 * 2, 64), size2)}
      {_, higher} -> higher
    end
  end

  defp rank({:c, _}), do: 4
  defp rank({:f, _}), do: 3
  defp rank({:bf, _}), do: 2
  defp rank({:s, _}), do: 1
  defp rank({:u, _}), do: 0
end
