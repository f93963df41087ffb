defmodule PelemayBackend.ProgramTest do
  use ExUnit.Case, async: true

  alias PelemayBackend.{Error, OpCatalogue, Program, Types}

  doctest PelemayBackend.Program
  doctest PelemayBackend.Types
  doctest PelemayBackend.OpCatalogue
  doctest PelemayBackend.Program.Prepared
  doctest PelemayBackend.SortScan

  describe "Prepared.cached (the memo of encoded programs)" do
    alias PelemayBackend.Program.Prepared

    defp exp_program(n) do
      p = Program.new()
      {p, a} = Program.input(p, {:f, 32}, [n])
      {p, b} = Program.op(p, "exp", [a], {:f, 32}, [n])
      Program.to_proto(p, [b])
    end

    test "gives what new/1 gives, and remembers it" do
      table = Prepared.new_table(:memo_test, [])
      program = exp_program(3)
      assert Prepared.cached(program, table, 8) == Prepared.new(program)
      assert [{^program, %Prepared{output_bytes: [12]}}] = :ets.lookup(table, program)
      # Equal programs built again hit the same entry.
      assert Prepared.cached(exp_program(3), table, 8) == Prepared.new(program)
      assert :ets.info(table, :size) == 1
    end

    test "holds at most its capacity" do
      table = Prepared.new_table(:memo_test, [])

      for n <- 1..50 do
        assert %Prepared{output_bytes: [bytes]} = Prepared.cached(exp_program(n), table, 8)
        assert bytes == 4 * n
        assert :ets.info(table, :size) <= 8
      end
    end

    test "keeps no program of more than 64 instructions, and works without a table" do
      table = Prepared.new_table(:memo_test, [])
      p = Program.new()
      {p, a} = Program.input(p, {:f, 32}, [2])

      {p, v} =
        Enum.reduce(1..65, {p, a}, fn _, {p, v} -> Program.op(p, "exp", [v], {:f, 32}, [2]) end)

      big = Program.to_proto(p, [v])
      assert Prepared.cached(big, table, 8) == Prepared.new(big)
      assert :ets.info(table, :size) == 0

      :ets.delete(table)
      assert Prepared.cached(exp_program(2), table, 8) == Prepared.new(exp_program(2))
    end
  end

  describe "the op catalogue" do
    test "is read from executor/ops/op_catalogue.inc, every op of it" do
      source = File.read!(Path.expand("../../executor/ops/op_catalogue.inc", __DIR__))
      lines = source |> String.split("\n") |> Enum.filter(&String.starts_with?(&1, "PELEMAY_OP("))
      assert length(OpCatalogue.ops()) == length(lines)

      assert Enum.map(OpCatalogue.ops(), & &1.name) ==
               Enum.map(lines, &(Regex.run(~r/^PELEMAY_OP\((\w+),/, &1) |> List.last()))
    end

    @tag :executor
    test "names exactly the ops a running executor reports" do
      {:ok, pid} = PelemayBackend.Executor.start_link()
      {:ok, info} = PelemayBackend.Executor.info(pid)
      assert Enum.sort(info.ops) == Enum.sort(Enum.map(OpCatalogue.ops(), & &1.name))
      GenServer.stop(pid)
    end

    test "dtype classes" do
      assert OpCatalogue.accepts?("divide", {:c, 64})
      refute OpCatalogue.accepts?("divide", {:s, 32})
      assert OpCatalogue.accepts?("less", {:u, 8})
      refute OpCatalogue.accepts?("less", {:c, 128})
      assert OpCatalogue.accepts?("erf", {:bf, 16})
      refute OpCatalogue.accepts?("erf", {:c, 64})
      assert_raise ArgumentError, ~r/no op "nope"/, fn -> OpCatalogue.fetch!("nope") end
    end
  end

  describe "types" do
    test "every Nx type maps to a dtype and back" do
      for t <- Types.all(), do: assert(Types.from_dtype(Types.to_dtype(t)) == t)
      assert length(Types.all()) == 14
      assert_raise ArgumentError, fn -> Types.to_dtype({:f, 8}) end
    end

    test "merge follows Nx.Type.merge/2" do
      # Expected values from Nx 0.7's Nx.Type.merge/2.
      assert Types.merge({:u, 8}, {:u, 16}) == {:u, 16}
      assert Types.merge({:u, 32}, {:s, 8}) == {:s, 64}
      assert Types.merge({:u, 64}, {:s, 64}) == {:s, 64}
      assert Types.merge({:s, 8}, {:f, 32}) == {:f, 32}
      assert Types.merge({:f, 64}, {:bf, 16}) == {:f, 64}
      assert Types.merge({:bf, 16}, {:s, 64}) == {:bf, 16}
      assert Types.merge({:c, 64}, {:f, 64}) == {:c, 64}
      assert Types.merge({:f, 32}, {:c, 128}) == {:c, 128}
    end
  end

  describe "building" do
    test "mistakes raise before anything is sent" do
      {p, a} = Program.input(Program.new(), {:s, 32}, [2])

      assert_raise ArgumentError, ~r/takes 2 operands, got 1/, fn ->
        Program.op(p, "add", [a], {:s, 32}, [2])
      end

      assert_raise ArgumentError, ~r/does not take \{:s, 32\}/, fn ->
        Program.op(p, "exp", [a], {:s, 32}, [2])
      end

      assert_raise ArgumentError, ~r/not defined/, fn ->
        Program.op(p, "negate", [7], {:s, 32}, [2])
      end

      assert_raise ArgumentError, ~r/no attributes \[:axes\]/, fn ->
        Program.op(p, "negate", [a], {:s, 32}, [2], axes: [0])
      end

      {p, _} = Program.op(p, "negate", [a], {:s, 32}, [2])

      assert_raise ArgumentError, ~r/before the first instruction/, fn ->
        Program.input(p, {:s, 32}, [2])
      end
    end

    test "convert, broadcast_to and reshape add an instruction only when needed" do
      {p, a} = Program.input(Program.new(), {:s, 32}, [3])
      assert {^p, ^a} = Program.convert(p, a, {:s, 32})
      assert {^p, ^a} = Program.broadcast_to(p, a, [3])
      assert {^p, ^a} = Program.reshape(p, a, [3])
      {p2, b} = Program.broadcast_to(p, a, [2, 4, 3])
      assert [%{op: "broadcast", attrs: %{axes: [2]}}] = Program.to_proto(p2, [b]).instructions
      assert_raise ArgumentError, fn -> Program.broadcast_to(p, a, []) end
    end
  end

  describe "running" do
    @describetag :executor

    test "a built program runs in the executor and gives Nx's answer" do
      p = Program.new()
      {p, a} = Program.input(p, {:s, 8}, [2, 2])
      {p, b} = Program.input(p, {:u, 8}, [2])
      type = Types.merge({:s, 8}, {:u, 8})
      {p, a2} = Program.convert(p, a, type)
      {p, b2} = Program.convert(p, b, type)
      {p, b3} = Program.broadcast_to(p, b2, [2, 2])
      {p, sum} = Program.op(p, "add", [a2, b3], type, [2, 2])

      assert {:ok, [bin]} =
               Program.run(p, [sum], [
                 {{:s, 8}, [2, 2], <<-1::8-signed, 2, 3, -128::8-signed>>},
                 {{:u, 8}, [2], <<255, 1>>}
               ])

      assert for(<<x::16-signed-little <- bin>>, do: x) == [254, 3, 258, -127]
    end

    test "shape errors come back from the executor as PelemayBackend.Error" do
      {p, a} = Program.input(Program.new(), {:f, 32}, [2])
      {p, b} = Program.input(p, {:f, 32}, [3])
      {p, c} = Program.op(p, "add", [a, b], {:f, 32}, [2])

      assert {:error, %Error{code: :invalid_argument, message: msg}} =
               Program.run(p, [c], [{{:f, 32}, [2], <<0::64>>}, {{:f, 32}, [3], <<0::96>>}])

      assert msg =~ "add"
    end
  end
end
