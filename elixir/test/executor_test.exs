defmodule PelemayBackend.ExecutorTest do
  # End to end: the executor built by `mix compile` (or PELEMAY_EXECUTOR_PATH)
  # spoken to over a Port in {:packet, 4} frames with this codec.
  use ExUnit.Case, async: true

  import Bitwise
  import PelemayBackend.Test.Terms, only: [f32: 1, from_f32: 1]

  alias PelemayBackend.{Native, Proto}

  @moduletag :executor
  @timeout 10_000

  defp open(args \\ []) do
    path = Native.executor_path()

    unless File.regular?(path) do
      flunk("no executor at #{path}: `mix compile` builds it (or set PELEMAY_EXECUTOR_PATH)")
    end

    Port.open({:spawn_executable, path}, [:binary, {:packet, 4}, :exit_status, args: args])
  end

  defp send_request(port, request) do
    true = Port.command(port, Proto.encode!(:Request, request))
  end

  defp receive_response(port) do
    receive do
      {^port, {:data, bytes}} ->
        assert {:ok, response} = Proto.decode(:Response, bytes)
        response

      {^port, {:exit_status, status}} ->
        flunk("executor exited with status #{status}")
    after
      @timeout -> flunk("no response from the executor in #{@timeout} ms")
    end
  end

  defp call(port, request) do
    send_request(port, request)
    response = receive_response(port)
    assert response.id == request.id
    response
  end

  defp receive_exit(port) do
    receive do
      {^port, {:exit_status, status}} -> status
    after
      @timeout -> flunk("the executor did not exit")
    end
  end

  defp close(port) do
    if Port.info(port), do: Port.close(port)
    :ok
  end

  @f32_4 %{dtype: :DTYPE_F32, shape: [4]}

  @add_program %{
    inputs: [@f32_4, @f32_4],
    instructions: [%{op: "add", operands: [0, 1], result: @f32_4}],
    outputs: [2]
  }

  setup do
    %{port: open()}
  end

  test "info: version, protocol version, limits, the op catalogue", %{port: port} do
    assert %{id: 1, kind: {:info, info}} = call(port, %{id: 1, kind: {:info, %{}}})
    assert info.protocol_version == 1
    assert info.version =~ ~r/^\d+\.\d+\.\d+/
    assert "add" in info.ops and "dot" in info.ops
    assert "SCALAR" in info.simd_targets_compiled
    assert info.simd_target_chosen in info.simd_targets_compiled
    assert info.memory_budget_bytes == 1 <<< 30
    assert info.max_frame_bytes > 0
    close(port)
  end

  test "run: a tiny add program on inline f32 data", %{port: port} do
    request = %{
      id: 2,
      kind:
        {:run,
         %{
           source: {:program, @add_program},
           inputs: [
             Map.put(@f32_4, :payload, {:data, f32([1.0, 2.0, 3.0, 4.0])}),
             Map.put(@f32_4, :payload, {:data, f32([10.0, 20.0, 30.0, 0.5])})
           ]
         }}
    }

    assert %{id: 2, kind: {:run, %{outputs: [output]}}} = call(port, request)
    assert %{dtype: :DTYPE_F32, shape: [4], payload: {:data, data}} = output
    assert from_f32(data) == [11.0, 22.0, 33.0, 4.5]
    close(port)
  end

  test "compile once, run by id, with literal and negative values", %{port: port} do
    assert %{kind: {:compile, %{program_id: id}}} =
             call(port, %{id: 3, kind: {:compile, %{program: @add_program}}})

    request = %{
      id: 4,
      kind:
        {:run,
         %{
           source: {:program_id, id},
           inputs: [
             Map.put(@f32_4, :payload, {:literal, %{floats: [-1, -2.5, 0, 1.0e6]}}),
             Map.put(@f32_4, :payload, {:data, f32([1.0, 2.5, -0.0, 1.0e6])})
           ]
         }}
    }

    assert %{kind: {:run, %{outputs: [%{payload: {:data, data}}]}}} = call(port, request)
    assert from_f32(data) == [0.0, 0.0, 0.0, 2.0e6]

    assert %{kind: {:release, %{released: true}}} =
             call(port, %{id: 5, kind: {:release, %{program_id: id}}})

    assert %{kind: {:error, %{code: :NOT_FOUND}}} = call(port, %{request | id: 6})
    close(port)
  end

  test "a program the validator rejects: a typed error naming the instruction", %{port: port} do
    program = %{
      inputs: [%{dtype: :DTYPE_F32, shape: [2, 3]}, %{dtype: :DTYPE_F32, shape: [3, 2]}],
      instructions: [
        %{op: "negate", operands: [0], result: %{dtype: :DTYPE_F32, shape: [2, 3]}},
        %{op: "add", operands: [2, 1], result: %{dtype: :DTYPE_F32, shape: [2, 3]}}
      ],
      outputs: [3]
    }

    assert %{kind: {:error, error}} =
             call(port, %{id: 7, kind: {:run, %{source: {:program, program}}}})

    assert error.code == :INVALID_ARGUMENT
    assert error.instruction == 1
    assert error.message != ""
    close(port)
  end

  test "ping, stats, a frame that is not a Request, then shutdown", %{port: port} do
    assert %{kind: {:pong, %{}}} = call(port, %{id: 8, kind: {:ping, %{}}})
    assert %{kind: {:stats, %{requests: requests}}} = call(port, %{id: 9, kind: {:stats, %{}}})
    assert requests >= 1

    true = Port.command(port, <<0xFF, 0xFF>>)
    assert %{id: 0, kind: {:error, %{code: :INVALID_ARGUMENT}}} = receive_response(port)

    assert %{kind: {:shutdown, %{}}} = call(port, %{id: 10, kind: {:shutdown, %{}}})
    assert receive_exit(port) == 0
  end

  test "fault requests: rejected without --enable-fault-injection", %{port: port} do
    assert %{kind: {:error, %{code: :UNSUPPORTED}}} =
             call(port, %{id: 11, kind: {:fault, %{kind: :EXIT, exit_code: 7}}})

    close(port)
  end

  test "fault requests: EXIT with --enable-fault-injection ends the process", %{port: port} do
    close(port)
    port = open(["--enable-fault-injection"])
    assert %{kind: {:pong, %{}}} = call(port, %{id: 12, kind: {:ping, %{}}})
    send_request(port, %{id: 13, kind: {:fault, %{kind: :EXIT, when: :NOW, exit_code: 7}}})
    assert receive_exit(port) == 7
  end
end
