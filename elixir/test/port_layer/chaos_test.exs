defmodule PelemayBackend.PortLayer.ChaosTest do
  # A short chaos run (PelemayBackend.Chaos): real computations checked
  # against Elixir, random injected faults, a killer SIGKILLing executors.
  use ExUnit.Case, async: false

  alias PelemayBackend.Chaos

  @moduletag :executor
  @moduletag :chaos
  @moduletag :capture_log
  @moduletag timeout: 120_000

  test "300 requests under faults and kills: no wrong result, no lost request, the pool survives" do
    stats =
      Chaos.run(
        requests: 300,
        fault_rate: 0.05,
        seed: 7,
        pool_size: 3,
        concurrency: 6,
        timeout: 3_000
      )

    report = Chaos.report(stats)

    assert stats.requests == 300
    assert stats.wrong == [], report
    assert stats.late == 0, report
    # Faults ride on the poisoned requests themselves and a suspect is
    # retried alone, so a request that carries no fault always gets its
    # result: any error on one fails the test.
    assert stats.errors_collateral == %{}, report
    assert stats.pool_alive, report
    assert stats.health_ok == 20, report
    assert Enum.sum(Map.values(stats.faults)) > 0, report
  end

  test "300 requests under faults and kills with every tensor in shared memory: no arena file left" do
    stats =
      Chaos.run(
        requests: 300,
        fault_rate: 0.05,
        seed: 11,
        pool_size: 3,
        concurrency: 6,
        timeout: 3_000,
        shared_mem: true
      )

    report = Chaos.report(stats)
    assert stats.wrong == [], report
    assert stats.errors_collateral == %{}, report
    assert stats.late == 0, report
    assert stats.health_ok == 20, report
    assert {mapped, ready} = stats.arenas_mapped
    assert mapped == ready and ready > 0, report
    assert stats.arena_files_left == 0, report
    assert Chaos.acceptable?(stats), report
  end

  test "results are checked: a corrupted output is caught" do
    {c, _} = Chaos.gen_case(:rand.seed_s(:exsss, {1, 2, 3}), 8)
    refute Chaos.check(c, [%{dtype: c.dtype, shape: [], payload: {:data, <<1, 2, 3, 4>>}}])
  end
end
