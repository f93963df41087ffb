defmodule PelemayBackend.WindowsTest do
  use ExUnit.Case, async: true

  alias PelemayBackend.Windows

  doctest PelemayBackend.Windows

  describe "window attributes" do
    test "defaults: unit strides and dilations, no padding" do
      assert Windows.reduce_attrs({3}, []) == [
               window_dimensions: [3],
               strides: [1],
               padding: [%{lo: 0, hi: 0, interior: 0}],
               window_dilations: [1]
             ]
    end

    test "integer strides and dilations apply to every axis" do
      attrs = Windows.reduce_attrs([2, 2, 1], strides: 2, window_dilations: 3)
      assert attrs[:strides] == [2, 2, 2]
      assert attrs[:window_dilations] == [3, 3, 3]
    end

    test "a list of the wrong length is an ArgumentError" do
      assert_raise ArgumentError, ~r/expected 2 entries/, fn ->
        Windows.reduce_attrs({2, 2}, strides: [1])
      end

      assert_raise ArgumentError, ~r/padding pairs/, fn ->
        Windows.scatter_attrs({2, 2}, padding: [{0, 0}])
      end
    end

    test "scatters carry no dilations" do
      refute Keyword.has_key?(Windows.scatter_attrs({2}, []), :window_dilations)
    end
  end

  describe "conv_plan/3" do
    @identity [
      strides: [1],
      padding: [{0, 0}],
      input_dilation: [1],
      kernel_dilation: [1],
      feature_group_size: 1,
      batch_group_size: 1,
      input_permutation: [0, 1, 2],
      kernel_permutation: [0, 1, 2],
      output_permutation: [0, 1, 2]
    ]

    test "identity permutations need no transposes" do
      plan = Windows.conv_plan([2, 3, 10], [4, 3, 3], @identity)
      assert plan.input_permutation == nil
      assert plan.kernel_permutation == nil
      assert plan.output_permutation == nil
      assert plan.conv_dims == [2, 4, 8]
      assert plan.out_dims == [2, 4, 8]

      assert plan.attrs == [
               strides: [1],
               padding: [%{lo: 0, hi: 0, interior: 0}],
               input_dilation: [1],
               kernel_dilation: [1],
               feature_group_size: 1,
               batch_group_size: 1
             ]
    end

    test "spatial sizes follow Nx.Shape.conv: dilations, padding, floor division" do
      opts =
        Keyword.merge(@identity,
          strides: [3],
          padding: [{2, -1}],
          input_dilation: [2],
          kernel_dilation: [2]
        )

      # input 10 dilated by 2 -> 19, padded -> 20; kernel 3 dilated -> 5;
      # floor((20 - 5) / 3) + 1 = 6
      assert Windows.conv_plan([1, 1, 10], [1, 1, 3], opts).conv_dims == [1, 1, 6]
    end

    test "batch groups divide the batch" do
      opts = Keyword.merge(@identity, batch_group_size: 2)
      assert Windows.conv_plan([4, 3, 5], [6, 3, 1], opts).conv_dims == [2, 6, 5]
    end

    test "channels-last layouts: transposes in and out" do
      # input [batch, width, channels], kernel [width, channels, filters]
      opts =
        Keyword.merge(@identity,
          input_permutation: [0, 2, 1],
          kernel_permutation: [2, 1, 0],
          output_permutation: [0, 2, 1]
        )

      plan = Windows.conv_plan([2, 10, 3], [3, 3, 4], opts)
      assert plan.input_permutation == [0, 2, 1]
      assert plan.kernel_permutation == [2, 1, 0]
      assert plan.conv_dims == [2, 4, 8]
      assert plan.output_permutation == [0, 2, 1]
      assert plan.out_dims == [2, 8, 4]
    end

    test "inverse_permutation undoes permute" do
      for perm <- [[0], [1, 0], [2, 0, 1], [3, 1, 0, 2]] do
        dims = Enum.map(perm, &(&1 * 10 + 1))

        assert dims |> Windows.permute(perm) |> Windows.permute(Windows.inverse_permutation(perm)) ==
                 dims
      end
    end
  end
end
