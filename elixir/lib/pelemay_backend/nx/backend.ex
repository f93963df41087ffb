defmodule PelemayBackend.Backend do
  @moduledoc """
  An `Nx.Backend` whose numerical work runs in the isolated executor.

      Nx.default_backend(PelemayBackend.Backend)
      Nx.add(Nx.tensor([1, 2]), 10)
      #=> #Nx.Tensor<s64[2] PelemayBackend.Backend [11, 12]>

  A tensor's data is a BEAM binary (garbage collected, and it survives an
  executor crash). Each native callback becomes a small program for the
  executor (`PelemayBackend.Program`), run through the default pool
  (`PelemayBackend.run/3`), which retries it on another executor if the one
  running it dies. Errors the executor reports are raised as
  `PelemayBackend.Error`; invalid arguments Nx catches itself keep Nx's own
  errors.

  ## Native and fallback

  The callbacks in `native_callbacks/0` run in the executor. The others are
  computed by `Nx.BinaryBackend` (the tensors are handed over as binaries and
  the result brought back) until the executor has their ops; they are listed
  by `fallback_callbacks/0`, and `docs/ops.md` gives the table. This is
  work in progress: the goal is a fallback list of only the callbacks that
  take an Elixir function (`reduce`, `window_reduce`, `map`).

  Each callback's program is a `PelemayBackend.Program.Prepared`: the
  executor that first runs an op signature (the op, its attributes, the
  types and shapes of its operands) compiles it, and later calls with the
  same signature name it by id (see "Compiled programs" in
  `PelemayBackend.Executor`).

  Every call that falls back emits the telemetry event
  `[:pelemay_backend, :fallback]` (measurements `%{count: 1}`, metadata
  `%{callback: name}`), so an application (or a test) can see which of its
  calls do not run in the executor.

  ## Options

  `Nx.default_backend({PelemayBackend.Backend, pool: MyPool})` (or the
  `:backend` option of `Nx.tensor/2` and friends) puts new tensors on the
  pool `MyPool` (default: the application's `PelemayBackend.Pool`); an op
  runs on the pool of its first operand that names one, and its result
  stays there.

  ## Faults

  When the executor running a call dies, the pool retries the call on
  another executor and the call returns the right tensor. A call that kills
  every executor it is tried on raises `PelemayBackend.Error` (code
  `:executor_crashed`, the message naming the signal). For fault-tolerance
  tests, `with_fault/2` makes the calls of a function carry an injected
  fault.
  """

  @behaviour Nx.Backend

  alias PelemayBackend.{Program, SortScan, Types, Windows}

  defstruct [:data, pool: nil]

  @type t :: %__MODULE__{data: binary(), pool: atom() | nil}

  ## Which callbacks are native

  # Elementwise binary callbacks with an executor op of the same name, and
  # the type the operands are computed in: :out (the result type) or
  # :merged (the operands' Nx.Type.merge, for comparisons and logical ops,
  # whose result is u8).
  @binary_ops [
    add: :out,
    subtract: :out,
    multiply: :out,
    pow: :out,
    remainder: :out,
    divide: :out,
    atan2: :out,
    min: :out,
    max: :out,
    quotient: :out,
    bitwise_and: :out,
    bitwise_or: :out,
    bitwise_xor: :out,
    left_shift: :out,
    right_shift: :out,
    equal: :merged,
    not_equal: :merged,
    greater: :merged,
    less: :merged,
    greater_equal: :merged,
    less_equal: :merged,
    logical_and: :merged,
    logical_or: :merged,
    logical_xor: :merged
  ]

  # Elementwise unary callbacks with an executor op of the same name; the
  # operand is first converted to the result type (abs keeps a complex
  # operand, whose modulus is real).
  @unary_ops [
    :negate,
    :abs,
    :sign,
    :exp,
    :expm1,
    :log,
    :log1p,
    :sqrt,
    :rsqrt,
    :tanh,
    :sigmoid,
    :sin,
    :cos,
    :erf,
    :floor,
    :ceil,
    :round,
    :bitwise_not,
    :tan,
    :asin,
    :acos,
    :atan,
    :sinh,
    :cosh,
    :asinh,
    :acosh,
    :atanh,
    :erfc,
    :erf_inv,
    :cbrt,
    :count_leading_zeros,
    :population_count
  ]

  @reductions [:sum, :product, :reduce_max, :reduce_min]

  @window_reductions [:window_sum, :window_product, :window_max, :window_min]

  @other_native [
    :init,
    :constant,
    :from_binary,
    :eye,
    :iota,
    :backend_deallocate,
    :backend_copy,
    :backend_transfer,
    :to_batched,
    :to_binary,
    :inspect,
    :as_type,
    :reshape,
    :squeeze,
    :broadcast,
    :transpose,
    :pad,
    :dot,
    :clip,
    :slice,
    :concatenate,
    :select,
    :all,
    :any,
    :argmax,
    :argmin,
    :logical_not,
    :is_nan,
    :is_infinity,
    :bitcast,
    :reverse,
    :put_slice,
    :take,
    :take_along_axis,
    :gather,
    :indexed_add,
    :indexed_put,
    :triangular_solve,
    :lu,
    :cholesky,
    :qr,
    :determinant,
    :solve,
    :eigh,
    :window_scatter_max,
    :window_scatter_min,
    :conv,
    :sort,
    :argsort,
    :top_k,
    :cumulative_sum,
    :cumulative_product,
    :cumulative_min,
    :cumulative_max,
    :real,
    :imag,
    :conjugate,
    :phase,
    :fft,
    :ifft
  ]

  @doc "The `Nx.Backend` callbacks this backend runs in the executor."
  def native_callbacks,
    do:
      Enum.sort(
        Keyword.keys(@binary_ops) ++
          @unary_ops ++ @reductions ++ @window_reductions ++ @other_native
      )

  # Callbacks computed by Nx.BinaryBackend for now, with their arity.
  @fallbacks [
    reduce: 5,
    window_reduce: 6,
    map: 4
  ]

  @doc "The `Nx.Backend` callbacks computed by `Nx.BinaryBackend` for now."
  def fallback_callbacks, do: @fallbacks |> Keyword.keys() |> Enum.sort()

  # Optional callbacks this module does not define: Nx runs its default
  # implementation, composed of the callbacks above (so each step is native
  # or a fallback as listed there).
  @nx_defaults [
    :all_close,
    :fft2,
    :ifft2,
    :svd
  ]

  @doc "Optional `Nx.Backend` callbacks left to Nx's default implementation."
  def nx_default_callbacks, do: @nx_defaults

  ## Creation and conversion

  @impl true
  def init(opts), do: opts

  @impl true
  def from_binary(out, binary, opts), do: put(out, binary, opts[:pool])

  @impl true
  def constant(%{type: {:c, _} = type, shape: shape} = out, value, opts) do
    {re, im} =
      case value do
        %Complex{re: re, im: im} -> {re, im}
        atom when is_atom(atom) -> {atom, 0.0}
        number -> {number * 1.0, 0.0}
      end

    native(out, [], opts[:pool], fn p, [] ->
      {p, v} = complex_scalar(p, float_part(re), float_part(im), type, dims(shape))
      {p, [v]}
    end)
  end

  def constant(%{type: type, shape: shape} = out, value, opts) do
    literal =
      case value do
        v when is_integer(v) and elem(type, 0) in [:s, :u] -> %{ints: [v]}
        v when is_integer(v) -> %{floats: [v * 1.0]}
        v when is_float(v) and elem(type, 0) in [:s, :u] -> %{ints: [trunc(v)]}
        v when is_float(v) -> %{floats: [v]}
        atom when atom in [:infinity, :neg_infinity, :nan] -> %{floats: [atom]}
        %Complex{} = c -> throw({:fallback, c})
      end

    value_tensor = %{dtype: Types.to_dtype(type), shape: [], payload: {:literal, literal}}

    native(out, [], opts[:pool], fn p, [] ->
      {p, v} = Program.op(p, "constant", [], type, dims(shape), value: value_tensor)
      {p, [v]}
    end)
  catch
    {:fallback, _} -> via_binary(:constant, [out, value, []])
  end

  @impl true
  def eye(%{type: type, shape: shape} = out, opts) do
    rank = tuple_size(shape)

    native(out, [], opts[:pool], fn p, [] ->
      ds = dims(shape)
      {p, rows} = Program.op(p, "iota", [], {:s, 64}, ds, axis: rank - 2)
      {p, cols} = Program.op(p, "iota", [], {:s, 64}, ds, axis: rank - 1)
      {p, eq} = Program.op(p, "equal", [rows, cols], {:u, 8}, ds)
      {p, v} = Program.convert(p, eq, type)
      {p, [v]}
    end)
  end

  @impl true
  def iota(%{type: type, shape: shape} = out, axis, opts) do
    native(out, [], opts[:pool], fn p, [] ->
      attrs = if axis, do: [axis: axis], else: []
      {p, v} = Program.op(p, "iota", [], iota_type(type), dims(shape), attrs)
      {p, v} = Program.convert(p, v, type)
      {p, [v]}
    end)
  end

  # iota counts in a real type; complex results are converted afterwards.
  defp iota_type({:c, 64}), do: {:f, 32}
  defp iota_type({:c, 128}), do: {:f, 64}
  defp iota_type(type), do: type

  @impl true
  def to_binary(%{type: {_, bits}} = t, limit) do
    data = data(t)
    bytes = limit * div(bits, 8)
    if byte_size(data) <= bytes, do: data, else: binary_part(data, 0, bytes)
  end

  @impl true
  def backend_deallocate(_tensor), do: :ok

  @impl true
  def backend_copy(tensor, backend, opts), do: backend_transfer(tensor, backend, opts)

  @impl true
  def backend_transfer(tensor, __MODULE__, _opts), do: tensor
  def backend_transfer(tensor, Nx.Tensor, _opts), do: tensor
  def backend_transfer(tensor, backend, opts), do: backend.from_binary(tensor, data(tensor), opts)

  @impl true
  def inspect(%{type: {_, bits}} = tensor, inspect_opts) do
    data =
      case inspect_opts.limit do
        :infinity ->
          data(tensor)

        limit ->
          to_binary(tensor, min(limit + 1, Nx.size(tensor)))
          |> then(&binary_part(&1, 0, min(byte_size(&1), (limit + 1) * div(bits, 8))))
      end

    Nx.Backend.inspect(tensor, data, inspect_opts)
  end

  @impl true
  def to_batched(out, %{type: {_, bits}} = tensor, opts) do
    leftover = opts[:leftover]
    batch_size = elem(out.shape, 0)
    per_batch = div(Nx.size(out) * bits, 8)
    data = data(tensor)
    total = byte_size(data)

    # As Nx.BinaryBackend: whole batches, the leftover repeated from the start or dropped.
    data =
      case rem(total, per_batch) do
        0 -> data
        r when leftover == :repeat -> data <> binary_part(data, 0, per_batch - r)
        r -> binary_part(data, 0, total - r)
      end

    _ = batch_size
    for <<batch::binary-size(per_batch) <- data>>, do: put(out, batch, pool_of([tensor]))
  end

  ## Shape-only callbacks: same bytes, new shape

  @impl true
  def reshape(out, tensor), do: put(out, data(tensor), pool_of([tensor]))

  # Same bytes read as another type of the same width.
  @impl true
  def bitcast(out, tensor), do: put(out, data(tensor), pool_of([tensor]))

  @impl true
  def squeeze(out, tensor, _axes), do: put(out, data(tensor), pool_of([tensor]))

  ## Elementwise

  for {name, operand_type} <- @binary_ops do
    @impl true
    def unquote(name)(out, left, right) do
      binary_op(unquote(Atom.to_string(name)), unquote(operand_type), out, left, right)
    end
  end

  defp binary_op(op, operand_type, %{type: out_type, shape: shape} = out, left, right) do
    type = if operand_type == :out, do: out_type, else: Types.merge(left.type, right.type)

    if PelemayBackend.OpCatalogue.accepts?(op, type) do
      native(out, [left, right], fn p, [a, b] ->
        {p, a} = coerce(p, a, type, shape)
        {p, b} = coerce(p, b, type, shape)
        {p, v} = Program.op(p, op, [a, b], out_type, dims(shape))
        {p, [v]}
      end)
    else
      via_binary(String.to_atom(op), [out, left, right])
    end
  end

  # Converted to `type`, broadcast to `shape`.
  defp coerce(p, v, type, shape) do
    {p, v} = Program.convert(p, v, type)
    Program.broadcast_to(p, v, dims(shape))
  end

  for name <- @unary_ops do
    @impl true
    def unquote(name)(out, tensor), do: unary_op(unquote(Atom.to_string(name)), out, tensor)
  end

  # Unary ops the executor has for real types only; for complex operands
  # they are composed of its complex ops with the formulas of the complex
  # library, which Nx.BinaryBackend evaluates (tan = sin / cos, asin(z) =
  # -i log(iz + sqrt(1 - z^2)), ...), so results agree to rounding.
  @complex_composed ~w(tan sinh cosh asin acos atan asinh acosh atanh expm1 log1p cbrt)

  defp unary_op(op, %{type: out_type, shape: shape} = out, tensor) do
    in_type = if op == "abs", do: tensor.type, else: out_type

    cond do
      PelemayBackend.OpCatalogue.accepts?(op, in_type) ->
        native(out, [tensor], fn p, [a] ->
          {p, a} = Program.convert(p, a, in_type)
          {p, v} = Program.op(p, op, [a], out_type, dims(shape))
          {p, [v]}
        end)

      match?({:c, _}, out_type) and op in @complex_composed ->
        complex_unary(op, out, tensor)

      true ->
        via_binary(String.to_atom(op), [out, tensor])
    end
  end

  ## Complex formulas

  defp complex_unary("cbrt", %{type: type, shape: shape} = out, tensor) do
    # cbrt(z) = cbrt(|z|) e^(i phase(z) / 3), computed on the (re, im)
    # pairs: the complex tensor's bytes read as its real type with a last
    # axis of 2, and the result's written back the same way.
    real = Types.real_type(type)
    ds = dims(shape)
    pairs = ds ++ [2]

    native(out, [as_pairs(tensor, type)], fn p, [z] ->
      {p, re} = part(p, z, 0, real, ds)
      {p, im} = part(p, z, 1, real, ds)
      {p, re2} = Program.op(p, "multiply", [re, re], real, ds)
      {p, im2} = Program.op(p, "multiply", [im, im], real, ds)
      {p, r2} = Program.op(p, "add", [re2, im2], real, ds)
      {p, r} = Program.op(p, "sqrt", [r2], real, ds)
      {p, third} = scalar(p, 1 / 3, real)
      {p, third} = Program.broadcast_to(p, third, ds)
      {p, root} = Program.op(p, "pow", [r, third], real, ds)
      {p, theta} = Program.op(p, "atan2", [im, re], real, ds)
      {p, three} = scalar(p, 3, real)
      {p, three} = Program.broadcast_to(p, three, ds)
      {p, angle} = Program.op(p, "divide", [theta, three], real, ds)
      {p, cos} = Program.op(p, "cos", [angle], real, ds)
      {p, sin} = Program.op(p, "sin", [angle], real, ds)
      {p, new_re} = Program.op(p, "multiply", [root, cos], real, ds)
      {p, new_im} = Program.op(p, "multiply", [root, sin], real, ds)
      {p, new_re} = Program.reshape(p, new_re, ds ++ [1])
      {p, new_im} = Program.reshape(p, new_im, ds ++ [1])
      {p, v} = Program.op(p, "concatenate", [new_re, new_im], real, pairs, axis: length(ds))
      {p, [v]}
    end)
  end

  defp complex_unary(op, %{type: type, shape: shape} = out, tensor) do
    ds = dims(shape)

    native(out, [tensor], fn p, [z] ->
      {p, z} = Program.convert(p, z, type)
      c = fn p, re, im -> complex_scalar(p, re, im, type, ds) end
      un = fn p, name, a -> Program.op(p, name, [a], type, ds) end
      bin = fn p, name, a, b -> Program.op(p, name, [a, b], type, ds) end

      {p, v} =
        case op do
          "tan" ->
            {p, s} = un.(p, "sin", z)
            {p, co} = un.(p, "cos", z)
            bin.(p, "divide", s, co)

          hyperbolic when hyperbolic in ["sinh", "cosh"] ->
            {p, e} = un.(p, "exp", z)
            {p, nz} = un.(p, "negate", z)
            {p, en} = un.(p, "exp", nz)
            {p, t} = bin.(p, if(op == "sinh", do: "subtract", else: "add"), e, en)
            {p, two} = c.(p, 2.0, 0.0)
            bin.(p, "divide", t, two)

          "asin" ->
            # -i log(iz + sqrt(1 - z^2))
            {p, i} = c.(p, 0.0, 1.0)
            {p, one} = c.(p, 1.0, 0.0)
            {p, iz} = bin.(p, "multiply", i, z)
            {p, zz} = bin.(p, "multiply", z, z)
            {p, t} = bin.(p, "subtract", one, zz)
            {p, t} = un.(p, "sqrt", t)
            {p, t} = bin.(p, "add", iz, t)
            {p, t} = un.(p, "log", t)
            {p, ni} = c.(p, -0.0, -1.0)
            bin.(p, "multiply", ni, t)

          "acos" ->
            # -i log(z + sqrt(z^2 - 1))
            {p, one} = c.(p, 1.0, 0.0)
            {p, zz} = bin.(p, "multiply", z, z)
            {p, t} = bin.(p, "subtract", zz, one)
            {p, t} = un.(p, "sqrt", t)
            {p, t} = bin.(p, "add", z, t)
            {p, t} = un.(p, "log", t)
            {p, ni} = c.(p, -0.0, -1.0)
            bin.(p, "multiply", ni, t)

          "atan" ->
            # (i / 2) (log(1 - iz) - log(1 + iz))
            {p, i} = c.(p, 0.0, 1.0)
            {p, one} = c.(p, 1.0, 0.0)
            {p, iz} = bin.(p, "multiply", i, z)
            {p, a} = bin.(p, "subtract", one, iz)
            {p, b} = bin.(p, "add", one, iz)
            {p, a} = un.(p, "log", a)
            {p, b} = un.(p, "log", b)
            {p, d} = bin.(p, "subtract", a, b)
            {p, half_i} = c.(p, 0.0, 0.5)
            bin.(p, "multiply", half_i, d)

          inverse when inverse in ["asinh", "acosh"] ->
            # log(z + sqrt(z^2 + 1)), log(z + sqrt(z^2 - 1))
            {p, one} = c.(p, 1.0, 0.0)
            {p, zz} = bin.(p, "multiply", z, z)
            {p, t} = bin.(p, if(op == "asinh", do: "add", else: "subtract"), zz, one)
            {p, t} = un.(p, "sqrt", t)
            {p, t} = bin.(p, "add", z, t)
            un.(p, "log", t)

          "atanh" ->
            # log((1 + z) / (1 - z)) / 2
            {p, one} = c.(p, 1.0, 0.0)
            {p, a} = bin.(p, "add", one, z)
            {p, b} = bin.(p, "subtract", one, z)
            {p, t} = bin.(p, "divide", a, b)
            {p, t} = un.(p, "log", t)
            {p, half} = c.(p, 0.5, 0.0)
            bin.(p, "multiply", half, t)

          "expm1" ->
            {p, e} = un.(p, "exp", z)
            {p, one} = c.(p, 1.0, 0.0)
            bin.(p, "subtract", e, one)

          "log1p" ->
            {p, one} = c.(p, 1.0, 0.0)
            {p, t} = bin.(p, "add", z, one)
            un.(p, "log", t)
        end

      {p, [v]}
    end)
  end

  # The complex constant re + im i of `type`, broadcast to `ds`.
  defp complex_scalar(p, re, im, type, ds) do
    {p, v} =
      Program.op(p, "constant", [], type, [],
        value: %{dtype: Types.to_dtype(type), shape: [], payload: {:literal, %{floats: [re, im]}}}
      )

    Program.broadcast_to(p, v, ds)
  end

  defp float_part(x) when is_number(x), do: x * 1.0
  defp float_part(x) when x in [:nan, :infinity, :neg_infinity], do: x

  # A complex tensor seen as its real type with a last axis of 2 (re, im):
  # the same bytes, declared so as a program input.
  defp as_pairs(tensor, type),
    do: %{tensor | type: Types.real_type(type), shape: Tuple.append(tensor.shape, 2)}

  # Part k (0: re, 1: im) of pairs `z` (dims ds ++ [2]), with dims ds.
  defp part(p, z, k, real, ds) do
    n = length(ds)

    {p, v} =
      Program.op(p, "slice", [z], real, ds ++ [1],
        start: List.duplicate(0, n) ++ [k],
        strides: List.duplicate(1, n + 1)
      )

    Program.reshape(p, v, ds)
  end

  @impl true
  def logical_not(out, tensor) do
    native(out, [tensor], fn p, [a] ->
      {p, v} = against_zero(p, "equal", a)
      {p, [v]}
    end)
  end

  @impl true
  def is_nan(%{shape: shape} = out, %{type: {k, _}} = tensor) when k in [:f, :bf] do
    native(out, [tensor], fn p, [a] ->
      {p, v} = Program.op(p, "not_equal", [a, a], {:u, 8}, dims(shape))
      {p, [v]}
    end)
  end

  # Integers are never NaN.
  def is_nan(%{shape: shape} = out, %{type: {k, _}} = tensor) when k in [:s, :u] do
    native(out, [tensor], fn p, [_a] ->
      {p, zero} = scalar(p, 0, {:u, 8})
      {p, v} = Program.broadcast_to(p, zero, dims(shape))
      {p, [v]}
    end)
  end

  # A complex number is NaN (infinite) when a part is.
  def is_nan(out, %{type: {:c, _}} = tensor), do: complex_part_test(out, tensor, :nan)

  def is_nan(out, tensor), do: via_binary(:is_nan, [out, tensor])

  # |a| == Inf for real floats; integers are never infinite.
  @impl true
  def is_infinity(%{shape: shape} = out, %{type: {k, _} = type} = tensor) when k in [:f, :bf] do
    native(out, [tensor], fn p, [a] ->
      ds = dims(shape)
      {p, m} = Program.op(p, "abs", [a], type, ds)
      {p, inf} = scalar(p, :infinity, type)
      {p, inf} = Program.broadcast_to(p, inf, ds)
      {p, v} = Program.op(p, "equal", [m, inf], {:u, 8}, ds)
      {p, [v]}
    end)
  end

  def is_infinity(%{shape: shape} = out, %{type: {k, _}} = tensor) when k in [:s, :u] do
    native(out, [tensor], fn p, [_a] ->
      {p, zero} = scalar(p, 0, {:u, 8})
      {p, v} = Program.broadcast_to(p, zero, dims(shape))
      {p, [v]}
    end)
  end

  def is_infinity(out, %{type: {:c, _}} = tensor),
    do: complex_part_test(out, tensor, :infinity)

  def is_infinity(out, tensor), do: via_binary(:is_infinity, [out, tensor])

  # is_nan / is_infinity of either part of each complex element, on the
  # tensor's (re, im) pairs.
  defp complex_part_test(%{shape: shape} = out, %{type: type} = tensor, test) do
    real = Types.real_type(type)
    ds = dims(shape)
    pairs = ds ++ [2]

    native(out, [as_pairs(tensor, type)], fn p, [z] ->
      {p, hit} =
        case test do
          :nan ->
            Program.op(p, "not_equal", [z, z], {:u, 8}, pairs)

          :infinity ->
            {p, m} = Program.op(p, "abs", [z], real, pairs)
            {p, inf} = scalar(p, :infinity, real)
            {p, inf} = Program.broadcast_to(p, inf, pairs)
            Program.op(p, "equal", [m, inf], {:u, 8}, pairs)
        end

      {p, v} = Program.op(p, "reduce_max", [hit], {:u, 8}, ds, axes: [length(ds)])
      {p, [v]}
    end)
  end

  @impl true
  def as_type(out, tensor) do
    one_op(out, tensor, "as_type")
  end

  @impl true
  def select(%{type: type, shape: shape} = out, pred, on_true, on_false) do
    native(out, [pred, on_true, on_false], fn p, [c, t, f] ->
      ds = dims(shape)
      {p, c} = Program.broadcast_to(p, c, ds)

      {p, c} =
        case pred.type do
          {:u, 8} ->
            {p, c}

          _ ->
            against_zero(p, "not_equal", c)
        end

      {p, t} = coerce(p, t, type, shape)
      {p, f} = coerce(p, f, type, shape)
      {p, v} = Program.op(p, "select", [c, t, f], type, ds)
      {p, [v]}
    end)
  end

  @impl true
  def clip(%{type: type, shape: shape} = out, tensor, min, max) do
    if PelemayBackend.OpCatalogue.accepts?("min", type) do
      native(out, [tensor, min, max], fn p, [t, lo, hi] ->
        {p, t} = coerce(p, t, type, shape)
        {p, lo} = coerce(p, lo, type, shape)
        {p, hi} = coerce(p, hi, type, shape)
        {p, v} = Program.op(p, "min", [t, hi], type, dims(shape))
        {p, v} = Program.op(p, "max", [v, lo], type, dims(shape))
        {p, [v]}
      end)
    else
      via_binary(:clip, [out, tensor, min, max])
    end
  end

  ## Structure

  @impl true
  def transpose(out, tensor, axes) do
    one_op(out, tensor, "transpose", permutation: axes)
  end

  @impl true
  def broadcast(out, tensor, _shape, axes) do
    one_op(out, tensor, "broadcast", axes: axes)
  end

  @impl true
  def pad(%{type: type, shape: shape} = out, tensor, pad_value, config) do
    native(out, [tensor, pad_value], fn p, [a, v] ->
      {p, v} = Program.convert(p, v, type)
      {p, v} = Program.reshape(p, v, [])

      padding =
        Enum.map(config, fn {lo, hi, interior} -> %{lo: lo, hi: hi, interior: interior} end)

      {p, r} = Program.op(p, "pad", [a, v], type, dims(shape), padding: padding)
      {p, [r]}
    end)
  end

  @impl true
  def slice(out, tensor, start_indices, lengths, strides) do
    # Nx clamps start indices (which may be tensors) so the slice fits.
    start =
      [start_indices, Tuple.to_list(tensor.shape), lengths]
      |> Enum.zip_with(fn [s, dim, len] -> s |> to_index() |> max(0) |> min(dim - len) end)

    one_op(out, tensor, "slice", start: start, strides: strides)
  end

  defp to_index(i) when is_integer(i), do: i
  defp to_index(%Nx.Tensor{} = t), do: Nx.to_number(t)

  @impl true
  def concatenate(%{type: type, shape: shape} = out, tensors, axis) do
    native(out, tensors, fn p, vs ->
      {p, vs} =
        Enum.reduce(vs, {p, []}, fn v, {p, acc} ->
          {p, v} = Program.convert(p, v, type)
          {p, [v | acc]}
        end)

      {p, v} = Program.op(p, "concatenate", Enum.reverse(vs), type, dims(shape), axis: axis)
      {p, [v]}
    end)
  end

  @impl true
  def dot(%{type: type, shape: shape} = out, left, c1, b1, right, c2, b2) do
    native(out, [left, right], fn p, [a, b] ->
      {p, a} = Program.convert(p, a, type)
      {p, b} = Program.convert(p, b, type)

      {p, v} =
        Program.op(p, "dot", [a, b], type, dims(shape),
          lhs_contract: c1,
          rhs_contract: c2,
          lhs_batch: b1,
          rhs_batch: b2
        )

      {p, [v]}
    end)
  end

  ## Indexing

  @impl true
  def reverse(out, tensor, axes), do: one_op(out, tensor, "reverse", axes: axes)

  @impl true
  def put_slice(%{type: type, shape: shape} = out, tensor, start_indices, slice) do
    # Nx clamps start indices (which may be tensors) so the slice fits.
    start =
      [start_indices, Tuple.to_list(shape), Tuple.to_list(slice.shape)]
      |> Enum.zip_with(fn [s, dim, len] -> s |> to_index() |> max(0) |> min(dim - len) end)

    native(out, [tensor, slice], fn p, [t, u] ->
      {p, t} = Program.convert(p, t, type)
      {p, u} = Program.convert(p, u, type)
      {p, v} = Program.op(p, "put_slice", [t, u], type, dims(shape), start: start)
      {p, [v]}
    end)
  end

  # Index values are data: one out of range is rejected by the executor
  # (PelemayBackend.Error, code :invalid_argument), where Nx.BinaryBackend
  # raises ArgumentError.
  @impl true
  def take(out, tensor, indices, axis), do: gather_op("take", out, tensor, indices, axis: axis)

  @impl true
  def take_along_axis(out, tensor, indices, axis),
    do: gather_op("take_along_axis", out, tensor, indices, axis: axis)

  @impl true
  def gather(out, tensor, indices, opts),
    do: gather_op("gather", out, tensor, indices, axes: opts[:axes])

  defp gather_op(op, %{type: type, shape: shape} = out, tensor, indices, attrs) do
    native(out, [tensor, indices], fn p, [t, i] ->
      {p, t} = Program.convert(p, t, type)
      {p, v} = Program.op(p, op, [t, i], type, dims(shape), attrs)
      {p, [v]}
    end)
  end

  @impl true
  def indexed_add(out, target, indices, updates, opts),
    do: scatter_op("indexed_add", out, target, indices, updates, opts)

  @impl true
  def indexed_put(out, target, indices, updates, opts),
    do: scatter_op("indexed_put", out, target, indices, updates, opts)

  defp scatter_op(op, %{type: type, shape: shape} = out, target, indices, updates, opts) do
    axes = opts[:axes] || Enum.to_list(0..(elem(indices.shape, 1) - 1)//1)
    compute = scatter_type(op, type, target.type, updates.type)

    native(out, [target, indices, updates], fn p, [t, i, u] ->
      {p, t} = Program.convert(p, t, compute)
      {p, u} = Program.convert(p, u, compute)
      {p, v} = Program.op(p, op, [t, i, u], compute, dims(shape), axes: axes)
      {p, v} = Program.convert(p, v, type)
      {p, [v]}
    end)
  end

  # Nx.BinaryBackend adds a float target's updates in f64, read in their own
  # type, and rounds once to the result type. When an operand is not of the
  # result type (s64 into f32, f64 updates of a c64 result), converting it
  # first would round twice: add in f64 (c128) instead, which gives the very
  # same value, then convert. Integer sums wrap either way.
  defp scatter_type("indexed_add", {k, _} = type, target, updates)
       when k in [:f, :bf, :c] and (target != type or updates != type),
       do: if(k == :c, do: {:c, 128}, else: {:f, 64})

  defp scatter_type(_op, type, _target, _updates), do: type

  ## Reductions

  for name <- @reductions do
    @impl true
    def unquote(name)(out, tensor, opts),
      do: reduce_op(unquote(Atom.to_string(name)), out, tensor, opts)
  end

  defp reduce_op(op, %{type: type, shape: shape} = out, tensor, opts) do
    if PelemayBackend.OpCatalogue.accepts?(op, type) do
      axes = opts[:axes] || Enum.to_list(0..(tuple_size(tensor.shape) - 1)//1)

      native(out, [tensor], fn p, [a] ->
        {p, a} = Program.convert(p, a, type)
        {p, v} = Program.op(p, op, [a], type, dims(shape), reduce_attrs(axes, opts))
        {p, [v]}
      end)
    else
      via_binary(String.to_atom(op), [out, tensor, opts])
    end
  end

  @impl true
  def all(out, tensor, opts), do: truth_reduce("reduce_min", out, tensor, opts)

  @impl true
  def any(out, tensor, opts), do: truth_reduce("reduce_max", out, tensor, opts)

  # all/any: reduce (tensor != 0) as u8 with min/max; the identity of an
  # empty reduction (255 for min) is turned back into 0/1 by a last != 0.
  defp truth_reduce(op, %{shape: shape} = out, tensor, opts) do
    axes = opts[:axes] || Enum.to_list(0..(tuple_size(tensor.shape) - 1)//1)

    native(out, [tensor], fn p, [a] ->
      {p, nz} = against_zero(p, "not_equal", a)
      {p, r} = Program.op(p, op, [nz], {:u, 8}, dims(shape), reduce_attrs(axes, opts))
      {p, v} = against_zero(p, "not_equal", r)
      {p, [v]}
    end)
  end

  @impl true
  def argmax(out, tensor, opts), do: arg_reduce("argmax", out, tensor, opts)

  @impl true
  def argmin(out, tensor, opts), do: arg_reduce("argmin", out, tensor, opts)

  defp arg_reduce(op, %{type: type, shape: shape} = out, tensor, opts) do
    if PelemayBackend.OpCatalogue.accepts?(op, tensor.type) do
      native(out, [tensor], fn p, [a] ->
        attrs =
          if(opts[:axis], do: [axis: opts[:axis]], else: []) ++
            if(opts[:keep_axis], do: [keep_axes: true], else: []) ++
            if(opts[:tie_break] == :high, do: [tie_break: :TIE_BREAK_HIGH], else: [])

        {p, v} = Program.op(p, op, [a], {:s, 64}, dims(shape), attrs)
        {p, v} = Program.convert(p, v, type)
        {p, [v]}
      end)
    else
      via_binary(String.to_atom(op), [out, tensor, opts])
    end
  end

  ## Linear algebra
  #
  # The executor's linear-algebra ops (executor/kernels/linalg.h) compute in
  # f64 and repeat Nx's own algorithms: Nx.BinaryBackend's for
  # triangular_solve, lu and eigh, Nx's default implementations for
  # cholesky, qr and determinant; solve is Nx's default (qr, then
  # triangular_solve) as one program. triangular_solve, lu, determinant and
  # eigh also run complex natively (c128 arithmetic); cholesky, qr and solve
  # of complex tensors run Nx's default implementations on this backend.

  # Complex (c64/c128) too: the kernel repeats the complex library's formulas.
  @impl true
  def triangular_solve(%{type: type, shape: shape} = out, a, b, opts) do
    linalg(out, [a, b], fn p, [a, b] ->
      {p, a} = linalg_input(p, a)
      {p, b} = linalg_input(p, b)

      {p, x} =
        Program.op(p, "triangular_solve", [a, b], type, dims(shape),
          left_side: !!opts[:left_side],
          lower: !!opts[:lower],
          transpose_a: opts[:transform_a] == :transpose
        )

      {p, [x]}
    end)
  end

  # Complex (c64/c128) too: the same steps in complex arithmetic.
  @impl true
  def lu({p_out, l_out, u_out} = out, tensor, opts) do
    eps = eps(opts, 1.0e-10)

    linalg(out, [tensor], fn p, [a] ->
      {p, a} = linalg_input(p, a)
      {p, pv} = Program.op(p, "lu_p", [a], p_out.type, dims(p_out.shape), eps: eps)
      {p, lv} = Program.op(p, "lu_l", [a], l_out.type, dims(l_out.shape), eps: eps)
      {p, uv} = Program.op(p, "lu_u", [a], u_out.type, dims(u_out.shape), eps: eps)
      {p, [pv, lv, uv]}
    end)
  end

  # Complex: Nx's default implementation (Nx.LinAlg.Cholesky) on this backend.
  @impl true
  def cholesky(%{type: {:c, _}} = out, tensor),
    do: put(out, data(Nx.LinAlg.Cholesky.cholesky(tensor)), pool_of([tensor]))

  def cholesky(%{type: type, shape: shape} = out, tensor) do
    linalg(out, [tensor], fn p, [a] ->
      {p, a} = linalg_input(p, a)
      {p, l} = Program.op(p, "cholesky", [a], type, dims(shape), eps: 1.0e-10)
      {p, [l]}
    end)
  end

  # Complex: Nx's default implementation (Nx.LinAlg.QR) on this backend.
  @impl true
  def qr({%{type: {:c, _}} = q_out, r_out}, tensor, opts) do
    {q, r} = Nx.LinAlg.QR.qr(tensor, opts)
    pool = pool_of([tensor])
    {put(q_out, data(q), pool), put(r_out, data(r), pool)}
  end

  def qr({q_out, r_out} = out, tensor, opts) do
    eps = eps(opts, 1.0e-10)

    linalg(out, [tensor], fn p, [a] ->
      {p, a} = linalg_input(p, a)
      {p, q} = Program.op(p, "qr_q", [a], q_out.type, dims(q_out.shape), eps: eps)
      {p, r} = Program.op(p, "qr_r", [a], r_out.type, dims(r_out.shape), eps: eps)
      {p, [q, r]}
    end)
  end

  # Complex (c64/c128) too, in complex arithmetic.
  @impl true
  def determinant(%{type: type, shape: shape} = out, tensor) do
    linalg(out, [tensor], fn p, [a] ->
      {p, a} = linalg_input(p, a)
      {p, d} = Program.op(p, "determinant", [a], type, dims(shape))
      {p, [d]}
    end)
  end

  # Nx's default: A = QR, then R x = Q^T b, in f64 in one program.
  # Complex: the same default, R x = adjoint(Q) b, composed on this backend
  # (qr as Nx.LinAlg.QR, dot, the native complex triangular_solve).
  @impl true
  def solve(%{type: {:c, _} = type} = out, a, b) do
    {q, r} = Nx.LinAlg.qr(a)
    rank = Nx.rank(q)
    batch = Enum.to_list(0..(rank - 3)//1)
    qb = Nx.dot(Nx.LinAlg.adjoint(q), [rank - 1], batch, b, [rank - 2], batch)
    x = Nx.LinAlg.triangular_solve(r, qb, lower: false)
    put(out, data(Nx.as_type(x, type)), pool_of([a, b]))
  end

  def solve(%{type: type, shape: shape} = out, a, b) do
    linalg(out, [a, b], fn p, [av, bv] ->
      rank = tuple_size(a.shape)
      n = elem(a.shape, rank - 1)
      batch = Enum.to_list(0..(rank - 3)//1)
      square = dims(a.shape)
      {p, av} = linalg_input(p, av)
      {p, bv} = Program.convert(p, bv, {:f, 64})
      {p, q} = Program.op(p, "qr_q", [av], {:f, 64}, square)
      {p, r} = Program.op(p, "qr_r", [av], {:f, 64}, square)
      qb_dims = Enum.take(square, rank - 2) ++ [n] ++ Enum.drop(dims(b.shape), rank - 1)

      {p, qb} =
        Program.op(p, "dot", [q, bv], {:f, 64}, qb_dims,
          lhs_contract: [rank - 2],
          rhs_contract: [rank - 2],
          lhs_batch: batch,
          rhs_batch: batch
        )

      {p, x} =
        Program.op(p, "triangular_solve", [r, qb], {:f, 64}, dims(shape),
          left_side: true,
          lower: false,
          transpose_a: false
        )

      {p, x} = Program.convert(p, x, type)
      {p, [x]}
    end)
  end

  # Complex (hermitian c64/c128) too, with Nx.BinaryBackend's complex
  # reflectors.
  @impl true
  def eigh({vals_out, vecs_out} = out, tensor, opts) do
    attrs = [eps: eps(opts, 1.0e-4), max_iter: opts[:max_iter] || 1_000]

    linalg(out, [tensor], fn p, [a] ->
      {p, a} = linalg_input(p, a)
      # One instruction computes both, packed as [..., n + 1, n]: row 0 the
      # eigenvalues, the other rows the eigenvectors.
      vec_dims = dims(vecs_out.shape)
      {batch, [n, n]} = Enum.split(vec_dims, -2)
      rank = length(vec_dims)
      {p, packed} = Program.op(p, "eigh", [a], vecs_out.type, batch ++ [n + 1, n], attrs)
      zeros = List.duplicate(0, rank)
      {p, vals} = Program.op(p, "slice", [packed], vecs_out.type, batch ++ [1, n], start: zeros)
      {p, vals} = Program.reshape(p, vals, dims(vals_out.shape))

      {p, vecs} =
        Program.op(p, "slice", [packed], vecs_out.type, vec_dims,
          start: List.replace_at(zeros, rank - 2, 1)
        )

      {p, [vals, vecs]}
    end)
  end

  defp eps(opts, default), do: (opts[:eps] || default) * 1.0

  # The linear-algebra ops read floats (and complex, read as it is);
  # integers become f64 (exact, as Nx.BinaryBackend reads them).
  defp linalg_input(p, v) do
    case Program.type(p, v) do
      {{k, _}, _} when k in [:f, :bf, :c] -> {p, v}
      _ -> Program.convert(p, v, {:f, 64})
    end
  end

  # native/3, with the data-dependent failures Nx.BinaryBackend raises as
  # ArgumentError raised the same way.
  defp linalg(out, inputs, build) do
    native(out, inputs, build)
  rescue
    e in PelemayBackend.Error ->
      cond do
        e.code == :invalid_argument and e.message =~ "can't solve for singular matrix" ->
          reraise ArgumentError, [message: "can't solve for singular matrix"], __STACKTRACE__

        e.code == :invalid_argument and e.message =~ "matrix must be hermitian" ->
          reraise ArgumentError,
                  [message: "matrix must be hermitian, a matrix is hermitian iff X = adjoint(X)"],
                  __STACKTRACE__

        true ->
          reraise e, __STACKTRACE__
      end
  end

  ## Windows and convolution

  for name <- @window_reductions do
    @impl true
    def unquote(name)(out, tensor, window_dimensions, opts),
      do: window_reduce_op(unquote(Atom.to_string(name)), out, tensor, window_dimensions, opts)
  end

  defp window_reduce_op(op, %{type: type, shape: shape} = out, tensor, window_dimensions, opts) do
    if PelemayBackend.OpCatalogue.accepts?(op, type) do
      native(out, [tensor], fn p, [a] ->
        {p, a} = Program.convert(p, a, type)
        attrs = Windows.reduce_attrs(window_dimensions, opts)
        {p, v} = Program.op(p, op, [a], type, dims(shape), attrs)
        {p, [v]}
      end)
    else
      via_binary(String.to_atom(op), [out, tensor, window_dimensions, opts])
    end
  end

  @impl true
  def window_scatter_max(out, tensor, source, init_value, window_dimensions, opts),
    do:
      window_scatter_op(
        "window_scatter_max",
        out,
        tensor,
        source,
        init_value,
        window_dimensions,
        opts
      )

  @impl true
  def window_scatter_min(out, tensor, source, init_value, window_dimensions, opts),
    do:
      window_scatter_op(
        "window_scatter_min",
        out,
        tensor,
        source,
        init_value,
        window_dimensions,
        opts
      )

  # The selection compares the tensor in its own type; source and init are
  # converted to the result type, where the scattered sums are computed.
  defp window_scatter_op(
         op,
         %{type: type, shape: shape} = out,
         tensor,
         source,
         init,
         window,
         opts
       ) do
    if PelemayBackend.OpCatalogue.accepts?(op, type) and
         PelemayBackend.OpCatalogue.accepts?(op, tensor.type) do
      native(out, [tensor, source, init], fn p, [t, s, i] ->
        {p, s} = Program.convert(p, s, type)
        {p, i} = Program.convert(p, i, type)
        {p, i} = Program.reshape(p, i, [])
        attrs = Windows.scatter_attrs(window, opts)
        {p, v} = Program.op(p, op, [t, s, i], type, dims(shape), attrs)
        {p, [v]}
      end)
    else
      via_binary(String.to_atom(op), [out, tensor, source, init, window, opts])
    end
  end

  # Nx.conv: both operands converted to the (floating) result type, the
  # permutations as transposes around the executor's conv
  # (PelemayBackend.Windows.conv_plan/3).
  @impl true
  def conv(%{type: type, shape: shape} = out, input, kernel, opts) do
    plan = Windows.conv_plan(dims(input.shape), dims(kernel.shape), opts)
    # The conv result Nx's shape implies (the executor checks it against its
    # own rule, so a disagreement is a typed error, never a wrong tensor).
    conv_dims =
      if plan.output_permutation,
        do: Windows.permute(dims(shape), Windows.inverse_permutation(plan.output_permutation)),
        else: dims(shape)

    native(out, [input, kernel], fn p, [x, k] ->
      {p, x} = Program.convert(p, x, type)
      {p, k} = Program.convert(p, k, type)
      {p, x} = maybe_transpose(p, x, plan.input_permutation)
      {p, k} = maybe_transpose(p, k, plan.kernel_permutation)
      {p, v} = Program.op(p, "conv", [x, k], type, conv_dims, plan.attrs)
      {p, v} = maybe_transpose(p, v, plan.output_permutation)
      {p, [v]}
    end)
  end

  defp maybe_transpose(p, v, nil), do: {p, v}

  defp maybe_transpose(p, v, perm) do
    {type, ds} = Program.type(p, v)
    Program.op(p, "transpose", [v], type, Windows.permute(ds, perm), permutation: perm)
  end

  ## Sorting and scans

  @impl true
  def sort(%{type: type} = out, tensor, opts) do
    along_axis(out, tensor, opts[:axis], fn p, a, axis, ds ->
      Program.op(p, "sort", [a], type, ds, SortScan.sort_attrs(axis, opts[:direction]))
    end)
  end

  # argsort computes s64 indices, converted to the requested type.
  @impl true
  def argsort(%{type: type} = out, tensor, opts) do
    along_axis(out, tensor, opts[:axis], fn p, a, axis, ds ->
      attrs = SortScan.sort_attrs(axis, opts[:direction])
      {p, v} = Program.op(p, "argsort", [a], {:s, 64}, ds, attrs)
      Program.convert(p, v, type)
    end)
  end

  # Nx's default: the first k of a stable descending argsort along the last
  # axis, and the values in that order (a stable descending sort).
  @impl true
  def top_k({%{shape: shape} = values_out, indices_out}, tensor, _opts) do
    native({values_out, indices_out}, [tensor], fn p, [a] ->
      ds = dims(tensor.shape)
      axis = length(ds) - 1
      attrs = SortScan.sort_attrs(axis, :desc)
      {start, strides} = {List.duplicate(0, length(ds)), List.duplicate(1, length(ds))}
      {p, sorted} = Program.op(p, "sort", [a], tensor.type, ds, attrs)
      {p, order} = Program.op(p, "argsort", [a], {:s, 64}, ds, attrs)

      {p, v} =
        Program.op(p, "slice", [sorted], tensor.type, dims(shape), start: start, strides: strides)

      {p, i} =
        Program.op(p, "slice", [order], {:s, 64}, dims(shape), start: start, strides: strides)

      {p, i} = Program.convert(p, i, indices_out.type)
      {p, [v, i]}
    end)
  end

  for name <- [:cumulative_sum, :cumulative_product, :cumulative_min, :cumulative_max] do
    @impl true
    def unquote(name)(out, tensor, opts),
      do: scan(unquote(Atom.to_string(name)), out, tensor, opts)
  end

  defp scan(op, %{type: type} = out, tensor, opts) do
    along_axis(out, tensor, opts[:axis], fn p, a, axis, ds ->
      {p, a} = Program.convert(p, a, type)
      Program.op(p, op, [a], type, ds, SortScan.scan_attrs(axis, opts[:reverse]))
    end)
  end

  # `out` = build.(p, operand, axis, dims) for an op along one axis; a scalar
  # is worked on as a one-element vector (the executor's ops need an axis).
  defp along_axis(%{shape: shape} = out, tensor, axis, build) do
    native(out, [tensor], fn p, [a] ->
      {p, a, axis, ds} =
        if shape == {} do
          {p, a} = Program.reshape(p, a, [1])
          {p, a, 0, [1]}
        else
          {p, a, axis || 0, dims(shape)}
        end

      {p, v} = build.(p, a, axis, ds)
      {p, v} = Program.reshape(p, v, dims(shape))
      {p, [v]}
    end)
  end

  ## Complex parts and Fourier transforms

  # Nx calls real/imag with complex tensors only; the others are handled as
  # Nx.real/Nx.imag handle them (the value itself, zeros).
  @impl true
  def real(out, %{type: {:c, _}} = tensor), do: one_op(out, tensor, "real")
  def real(out, tensor), do: as_type(out, tensor)

  @impl true
  def imag(out, %{type: {:c, _}} = tensor), do: one_op(out, tensor, "imag")

  def imag(%{type: type, shape: shape} = out, tensor) do
    native(out, [tensor], fn p, [_a] ->
      {p, zero} = scalar(p, 0, type)
      {p, v} = Program.broadcast_to(p, zero, dims(shape))
      {p, [v]}
    end)
  end

  # The conjugate of a real number is complex, with imaginary part -0.0 as
  # Nx.BinaryBackend writes it, except for infinities and NaN, which it
  # keeps as they are (+0.0).
  @impl true
  def conjugate(%{type: type, shape: shape} = out, %{type: in_type} = tensor) do
    native(out, [tensor], fn p, [a] ->
      ds = dims(shape)
      {p, c} = Program.convert(p, a, type)
      {p, v} = Program.op(p, "conjugate", [c], type, ds)

      {p, v} =
        if elem(in_type, 0) in [:f, :bf] do
          # x - x == 0 exactly when x is finite.
          {p, d} = Program.op(p, "subtract", [a, a], in_type, ds)
          {p, finite} = against_zero(p, "equal", d)
          Program.op(p, "select", [finite, v, c], type, ds)
        else
          {p, v}
        end

      {p, [v]}
    end)
  end

  # Real tensors: Nx's default atan2(imag, real) = atan2(0, x).
  @impl true
  def phase(out, %{type: {:c, _}} = tensor), do: one_op(out, tensor, "phase")

  def phase(%{type: type, shape: shape} = out, tensor) do
    native(out, [tensor], fn p, [a] ->
      ds = dims(shape)
      {p, a} = Program.convert(p, a, type)
      {p, zero} = scalar(p, 0, type)
      {p, zero} = Program.broadcast_to(p, zero, ds)
      {p, v} = Program.op(p, "atan2", [zero, a], type, ds)
      {p, [v]}
    end)
  end

  @impl true
  def fft(out, tensor, opts), do: fourier("fft", out, tensor, opts)

  @impl true
  def ifft(out, tensor, opts), do: fourier("ifft", out, tensor, opts)

  # Any operand type goes in as it is: the executor widens it to f64.
  defp fourier(op, out, tensor, opts) do
    one_op(out, tensor, op, SortScan.fft_attrs(opts[:axis], opts[:length], opts[:eps]))
  end

  ## Fallback to Nx.BinaryBackend

  for {name, arity} <- @fallbacks do
    args = Macro.generate_arguments(arity, __MODULE__)

    @impl true
    def unquote(name)(unquote_splicing(args)), do: via_binary(unquote(name), unquote(args))
  end

  # Tensors that Nx.BinaryBackend creates while it computes (the results of
  # a user function in map/reduce, its own helpers in conv) must be its own:
  # the default backend is switched for the call.
  defp via_binary(name, args) do
    :telemetry.execute([:pelemay_backend, :fallback], %{count: 1}, %{callback: name})
    pool = args |> List.flatten() |> Enum.filter(&match?(%Nx.Tensor{}, &1)) |> pool_of()
    args = Enum.map(args, &to_binary_backend/1)
    previous = Nx.default_backend(Nx.BinaryBackend)

    try do
      Nx.BinaryBackend |> apply(name, args) |> from_binary_backend(pool)
    after
      Nx.default_backend(previous)
    end
  end

  defp to_binary_backend(%Nx.Tensor{data: %__MODULE__{data: data}} = t),
    do: %{t | data: %Nx.BinaryBackend{state: data}}

  defp to_binary_backend(list) when is_list(list), do: Enum.map(list, &to_binary_backend/1)

  defp to_binary_backend(tuple) when is_tuple(tuple) and tuple_size(tuple) in 2..3 do
    if Enum.all?(Tuple.to_list(tuple), &match?(%Nx.Tensor{}, &1)),
      do: tuple |> Tuple.to_list() |> Enum.map(&to_binary_backend/1) |> List.to_tuple(),
      else: tuple
  end

  defp to_binary_backend(other), do: other

  defp from_binary_backend(%Nx.Tensor{data: %Nx.BinaryBackend{state: data}} = t, pool),
    do: %{t | data: %__MODULE__{data: data, pool: pool}}

  defp from_binary_backend(tuple, pool) when is_tuple(tuple),
    do: tuple |> Tuple.to_list() |> Enum.map(&from_binary_backend(&1, pool)) |> List.to_tuple()

  defp from_binary_backend(list, pool) when is_list(list),
    do: Enum.map(list, &from_binary_backend(&1, pool))

  defp from_binary_backend(other, _pool), do: other

  ## Plumbing

  defp dims(shape), do: Tuple.to_list(shape)

  defp put(out, data, pool), do: %{out | data: %__MODULE__{data: data, pool: pool}}

  # The pool of the first tensor on this backend that names one.
  defp pool_of(tensors) do
    Enum.find_value(tensors, fn
      %Nx.Tensor{data: %__MODULE__{pool: pool}} -> pool
      _ -> nil
    end)
  end

  @doc """
  Runs `fun` with every executor call it makes carrying `fault` (a
  `FaultRequest` map such as `%{kind: :SEGFAULT, when: :DURING_NEXT_RUN}`),
  for fault-tolerance tests; the pool's executors must have been started
  with `executor_args: ["--enable-fault-injection"]`. Calls that fall back
  to `Nx.BinaryBackend` carry nothing.
  """
  @spec with_fault(map(), (() -> result)) :: result when result: var
  def with_fault(fault, fun) when is_map(fault) and is_function(fun, 0) do
    previous = Process.put(:pelemay_backend_fault, fault)

    try do
      fun.()
    after
      if previous,
        do: Process.put(:pelemay_backend_fault, previous),
        else: Process.delete(:pelemay_backend_fault)
    end
  end

  # The bytes of a tensor of any backend.
  defp data(%Nx.Tensor{data: %__MODULE__{data: data}}), do: data
  defp data(%Nx.Tensor{data: %Nx.BinaryBackend{state: data}}), do: data
  defp data(%Nx.Tensor{} = t), do: Nx.to_binary(t)

  defp scalar(p, value, type) do
    literal =
      cond do
        elem(type, 0) in [:s, :u] -> %{ints: [value]}
        is_atom(value) -> %{floats: [value]}
        true -> %{floats: [value * 1.0]}
      end

    Program.op(p, "constant", [], type, [],
      value: %{dtype: Types.to_dtype(type), shape: [], payload: {:literal, literal}}
    )
  end

  # compare(v, 0) as u8 of v's shape, compare being "equal" or "not_equal".
  defp against_zero(p, compare, v) do
    {type, ds} = Program.type(p, v)
    {p, zero} = scalar(p, 0, type)
    {p, zero} = Program.broadcast_to(p, zero, ds)
    Program.op(p, compare, [v, zero], {:u, 8}, ds)
  end

  defp reduce_attrs(axes, opts),
    do: [axes: axes] ++ if(opts[:keep_axes], do: [keep_axes: true], else: [])

  # `out` = op(tensor): one instruction whose result has out's type and shape.
  defp one_op(%{type: type, shape: shape} = out, tensor, op, attrs \\ []) do
    native(out, [tensor], fn p, [a] ->
      {p, v} = Program.op(p, op, [a], type, dims(shape), attrs)
      {p, [v]}
    end)
  end

  # Builds a program over `inputs` (tensors) with `build.(program,
  # input_values)` returning `{program, output_values}`, runs it, and puts
  # the results into `out` (a tensor, or a tuple of tensors).
  defp native(out, inputs, build), do: native(out, inputs, pool_of(inputs), build)

  defp native(out, inputs, pool, build) do
    {p, values} =
      Enum.reduce(inputs, {Program.new(), []}, fn t, {p, vs} ->
        {p, v} = Program.input(p, t.type, dims(t.shape))
        {p, [v | vs]}
      end)

    {p, outputs} = build.(p, Enum.reverse(values))
    args = Enum.map(inputs, &{&1.type, dims(&1.shape), data(&1)})

    opts =
      Enum.reject([pool: pool, fault: Process.get(:pelemay_backend_fault)], &is_nil(elem(&1, 1)))

    case Program.run(p, outputs, args, opts) do
      {:ok, [binary]} when not is_tuple(out) ->
        put(out, binary, pool)

      {:ok, binaries} ->
        out
        |> Tuple.to_list()
        |> Enum.zip_with(binaries, &put(&1, &2, pool))
        |> List.to_tuple()

      {:error, error} ->
        raise error
    end
  end
end
