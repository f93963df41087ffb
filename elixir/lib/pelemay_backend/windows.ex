defmodule PelemayBackend.Windows do
  @moduledoc """
  Attributes and shapes for the executor's window ops (`window_sum`,
  `window_product`, `window_max`, `window_min`, `window_scatter_max`,
  `window_scatter_min`) and `conv`, from the options Nx hands its backend.

  Plain Elixir, no Nx: the Nx adapter calls these and emits the
  instructions. Nx has already resolved `:same`/`:valid` padding into
  `{lo, hi}` pairs and integer strides/dilations into lists by the time a
  backend sees them; both forms are accepted here anyway.

  Nx's `conv` takes permutations of the input, kernel and output axes; the
  executor's `conv` works on `[batch, channels, spatial...]` input and
  `[filters, channels, spatial...]` kernel only, so `conv_plan/3` says which
  `transpose` instructions go around it.
  """

  @doc """
  Attributes of a window reduction over a tensor of `rank` axes:
  `window_dimensions` (a tuple or list), `strides`, `padding` and
  `window_dilations` from `opts`.

      iex> PelemayBackend.Windows.reduce_attrs({2, 3}, strides: [1, 2], padding: [{1, 0}, {0, 1}], window_dilations: [1, 1])
      [window_dimensions: [2, 3], strides: [1, 2], padding: [%{lo: 1, hi: 0, interior: 0}, %{lo: 0, hi: 1, interior: 0}], window_dilations: [1, 1]]
  """
  @spec reduce_attrs(tuple() | [pos_integer()], keyword()) :: keyword()
  def reduce_attrs(window_dimensions, opts) do
    window = to_list(window_dimensions)
    rank = length(window)

    scatter_attrs(window, opts) ++
      [window_dilations: per_axis(opts[:window_dilations], rank)]
  end

  @doc """
  Attributes of a window scatter: `window_dimensions`, `strides` and
  `padding` (a scatter has no dilations).

      iex> PelemayBackend.Windows.scatter_attrs({2, 2}, strides: 2, padding: :valid)
      [window_dimensions: [2, 2], strides: [2, 2], padding: [%{lo: 0, hi: 0, interior: 0}, %{lo: 0, hi: 0, interior: 0}]]
  """
  @spec scatter_attrs(tuple() | [pos_integer()], keyword()) :: keyword()
  def scatter_attrs(window_dimensions, opts) do
    window = to_list(window_dimensions)
    rank = length(window)

    [
      window_dimensions: window,
      strides: per_axis(opts[:strides], rank),
      padding: padding(opts[:padding], rank)
    ]
  end

  @doc """
  How Nx's `conv(input, kernel, opts)` runs on the executor. `input` and
  `kernel` are dimension lists; `opts` are the options Nx gives the
  backend's `conv/4`. Returns a map:

    * `:input_permutation`, `:kernel_permutation` — the `transpose`
      permutation to apply to the input / kernel first, or `nil` when it is
      the identity;
    * `:conv_dims` — the dims of the executor's `conv` result,
      `[batch / batch_groups, filters, spatial...]`;
    * `:output_permutation` — the `transpose` permutation from that result
      to the tensor Nx expects, or `nil`;
    * `:out_dims` — the dims of that tensor;
    * `:attrs` — the `conv` instruction's attributes.

        iex> plan = PelemayBackend.Windows.conv_plan([1, 5, 5, 2], [3, 2, 2, 2],
        ...>   strides: [1, 1], padding: [{0, 0}, {1, 1}], input_dilation: [1, 1],
        ...>   kernel_dilation: [1, 1], feature_group_size: 1, batch_group_size: 1,
        ...>   input_permutation: [0, 3, 1, 2], kernel_permutation: [0, 1, 2, 3],
        ...>   output_permutation: [0, 3, 1, 2])
        iex> {plan.input_permutation, plan.conv_dims, plan.output_permutation, plan.out_dims}
        {[0, 3, 1, 2], [1, 3, 4, 6], [0, 2, 3, 1], [1, 4, 6, 3]}
  """
  @spec conv_plan([non_neg_integer()], [non_neg_integer()], keyword()) :: map()
  def conv_plan(input, kernel, opts) do
    rank = length(input)
    spatial = rank - 2
    ip = opts[:input_permutation] || Enum.to_list(0..(rank - 1))
    kp = opts[:kernel_permutation] || Enum.to_list(0..(rank - 1))
    op = opts[:output_permutation] || Enum.to_list(0..(rank - 1))

    [n, _c | xs] = permute(input, ip)
    [o, _i | ks] = permute(kernel, kp)

    strides = per_axis(opts[:strides], spatial)
    input_dilation = per_axis(opts[:input_dilation], spatial)
    kernel_dilation = per_axis(opts[:kernel_dilation], spatial)
    pads = padding(opts[:padding], spatial)
    fg = opts[:feature_group_size] || 1
    bg = opts[:batch_group_size] || 1

    ys =
      [xs, ks, strides, pads, input_dilation, kernel_dilation]
      |> Enum.zip_with(fn [x, k, s, %{lo: lo, hi: hi}, id, kd] ->
        conv_dim(x, k, s, lo, hi, id, kd)
      end)

    conv_dims = [div(n, bg), o | ys]
    # Nx's result is the conv result transposed by the inverse of
    # output_permutation (Nx.Shape.conv).
    out_perm = inverse_permutation(op)

    %{
      input_permutation: unless_identity(ip),
      kernel_permutation: unless_identity(kp),
      conv_dims: conv_dims,
      output_permutation: unless_identity(out_perm),
      out_dims: permute(conv_dims, out_perm),
      attrs: [
        strides: strides,
        padding: pads,
        input_dilation: input_dilation,
        kernel_dilation: kernel_dilation,
        feature_group_size: fg,
        batch_group_size: bg
      ]
    }
  end

  # Output size of one spatial axis, as Nx.Shape.conv: the input dilated and
  # padded, the kernel dilated, floor((padded - kernel) / stride) + 1.
  defp conv_dim(x, k, s, lo, hi, id, kd) do
    padded = if(x == 0, do: 0, else: (x - 1) * id + 1) + lo + hi
    kernel = if k == 0, do: 0, else: (k - 1) * kd + 1
    max(Integer.floor_div(padded - kernel, s) + 1, 0)
  end

  @doc """
  The permutation that undoes `perm`.

      iex> PelemayBackend.Windows.inverse_permutation([2, 0, 1])
      [1, 2, 0]
  """
  @spec inverse_permutation([non_neg_integer()]) :: [non_neg_integer()]
  def inverse_permutation(perm) do
    perm |> Enum.with_index() |> Enum.sort() |> Enum.map(&elem(&1, 1))
  end

  @doc """
  `dims` transposed by `perm` (result axis i is axis `perm[i]`).

      iex> PelemayBackend.Windows.permute([4, 5, 6], [2, 0, 1])
      [6, 4, 5]
  """
  @spec permute([non_neg_integer()], [non_neg_integer()]) :: [non_neg_integer()]
  def permute(dims, perm), do: Enum.map(perm, &Enum.at(dims, &1))

  defp unless_identity(perm) do
    if perm == Enum.to_list(0..(length(perm) - 1)//1), do: nil, else: perm
  end

  defp to_list(t) when is_tuple(t), do: Tuple.to_list(t)
  defp to_list(l) when is_list(l), do: l

  defp per_axis(nil, rank), do: List.duplicate(1, rank)
  defp per_axis(n, rank) when is_integer(n), do: List.duplicate(n, rank)
  defp per_axis(list, rank) when is_list(list) and length(list) == rank, do: list

  defp per_axis(list, rank),
    do: raise(ArgumentError, "expected #{rank} entries, one per axis, got #{inspect(list)}")

  defp padding(p, rank) when p in [nil, :valid],
    do: List.duplicate(%{lo: 0, hi: 0, interior: 0}, rank)

  defp padding(pads, rank) when is_list(pads) and length(pads) == rank,
    do: Enum.map(pads, fn {lo, hi} -> %{lo: lo, hi: hi, interior: 0} end)

  defp padding(p, rank),
    do: raise(ArgumentError, "expected #{rank} {lo, hi} padding pairs, got #{inspect(p)}")
end
