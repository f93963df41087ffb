defmodule PelemayBackend.OpCatalogue do
  @moduledoc """
  The executor's ops, read at compile time from the single op catalogue,
  `executor/ops/op_catalogue.inc`, which the C++ validator, kernel table,
  tests and `docs/ops.md` also derive from. Adding an op there (and its
  kernel) makes it known here on the next compile.

      iex> op = PelemayBackend.OpCatalogue.fetch!("add")
      iex> {op.family, op.arity, op.dtypes}
      {:binary, 2, :all}
      iex> PelemayBackend.OpCatalogue.accepts?("bitwise_and", {:f, 32})
      false

  Each op is `%{name: String.t(), family: atom, arity: integer (-1: one or
  more), dtypes: :all | :real | :float | :float_complex | :integer |
  :complex, attrs:
  [atom], summary: String.t()}`.
  """

  @catalogue Path.expand("../../../executor/ops/op_catalogue.inc", __DIR__)
  @external_resource @catalogue

  # One PELEMAY_OP(name, family, arity, dtypes, "attrs", "summary") per line.
  @line ~r/^PELEMAY_OP\((\w+), (\w+), (-?\d+), (\w+), "([^"]*)", "(.*)"\)\s*$/

  @ops (for line <- File.read!(@catalogue) |> String.split("\n"),
            [_, name, family, arity, dtypes, attrs, summary] <- [Regex.run(@line, line)] do
          %{
            name: name,
            family: family |> Macro.underscore() |> String.to_atom(),
            arity: String.to_integer(arity),
            dtypes: dtypes |> Macro.underscore() |> String.to_atom(),
            attrs: attrs |> String.split(" ", trim: true) |> Enum.map(&String.to_atom/1),
            summary: summary
          }
        end)

  if length(@ops) < 10, do: raise("could not parse #{@catalogue}: #{length(@ops)} ops found")

  @by_name Map.new(@ops, &{&1.name, &1})

  @doc "Every op, in catalogue order."
  @spec ops() :: [map()]
  def ops, do: @ops

  @doc "The op named `name`, or `:error`."
  @spec fetch(String.t()) :: {:ok, map()} | :error
  def fetch(name), do: Map.fetch(@by_name, name)

  @doc "The op named `name`; raises `ArgumentError` for an unknown op."
  @spec fetch!(String.t()) :: map()
  def fetch!(name) do
    case fetch(name) do
      {:ok, op} -> op
      :error -> raise ArgumentError, "the executor has no op #{inspect(name)}"
    end
  end

  @doc "Whether op `name` accepts operands of Nx type `type` (e.g. `{:f, 32}`)."
  @spec accepts?(String.t(), PelemayBackend.Types.nx_type()) :: boolean()
  def accepts?(name, type), do: dtype_class_accepts?(fetch!(name).dtypes, type)

  @doc false
  def dtype_class_accepts?(:all, _), do: true
  def dtype_class_accepts?(:real, {k, _}), do: k != :c
  def dtype_class_accepts?(:float, {k, _}), do: k in [:f, :bf]
  def dtype_class_accepts?(:float_complex, {k, _}), do: k in [:f, :bf, :c]
  def dtype_class_accepts?(:integer, {k, _}), do: k in [:s, :u]
  def dtype_class_accepts?(:complex, {k, _}), do: k == :c
end
