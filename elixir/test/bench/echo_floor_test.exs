defmodule PelemayBackend.Bench.EchoFloorTest do
  # The benchmarks' floor: echo ports and how their times are summarized.
  use ExUnit.Case, async: true

  alias PelemayBackend.Bench.EchoFloor

  test "summarize takes the fastest port as the floor and the median port as typical" do
    assert %{best: 9.8, typical: 34.0, all: [40.0, 9.8, 34.0, 35.0]} =
             EchoFloor.summarize([40.0, 9.8, 34.0, 35.0])

    assert %{best: 3, typical: 3} = EchoFloor.summarize([3])
    assert %{best: 1, typical: 2} = EchoFloor.summarize([3, 1, 2])
  end

  test "each echo port answers a frame, and close closes them all" do
    floor = EchoFloor.open(2)
    assert length(floor.ports) == 2

    for port <- floor.ports do
      assert :ok = EchoFloor.round_trip(port, <<1, 2, 3>>).()
      assert Port.info(port) != nil
    end

    :ok = EchoFloor.close(floor)
    assert Enum.all?(floor.ports, &(Port.info(&1) == nil))
  end
end
