defmodule PelemayBackend.SortScan do
  @moduledoc """
  Attributes of the executor's sort, scan and FFT instructions from Nx's
  options (no Nx needed).

      iex> PelemayBackend.SortScan.sort_attrs(1, :desc)
      [axis: 1, descending: true]
      iex> PelemayBackend.SortScan.scan_attrs(0, false)
      [axis: 0]
      iex> PelemayBackend.SortScan.fft_attrs(-1 + 2, 8, 1.0e-10)
      [axis: 1, length: 8, eps: 1.0e-10]
  """

  @doc "sort/argsort: `direction` is `:asc` (or nil) or `:desc`."
  @spec sort_attrs(non_neg_integer(), :asc | :desc | nil) :: keyword()
  def sort_attrs(axis, direction) when direction in [:asc, nil], do: [axis: axis]
  def sort_attrs(axis, :desc), do: [axis: axis, descending: true]

  @doc "cumulative_*: scan from the end when `reverse` is true."
  @spec scan_attrs(non_neg_integer(), boolean() | nil) :: keyword()
  def scan_attrs(axis, true), do: [axis: axis, reverse: true]
  def scan_attrs(axis, _), do: [axis: axis]

  @doc "fft/ifft: the axis, the result length along it, and the cleanup threshold."
  @spec fft_attrs(non_neg_integer(), pos_integer(), number() | nil) :: keyword()
  def fft_attrs(axis, length, eps) when is_integer(length) and length >= 1 do
    [axis: axis, length: length] ++ if(eps, do: [eps: eps * 1.0], else: [])
  end
end
