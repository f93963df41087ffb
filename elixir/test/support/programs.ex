defmodule PelemayBackend.Test.Programs do
  @moduledoc """
  Programs, tensors and waiting helpers for the port layer's tests
  (test/port_layer/).
  """

  @doc "A program adding two f32 vectors of `n` elements."
  def add_program(n), do: chain_program(n, 1)

  @doc """
  A program of `steps` instructions over two f32 vectors of `n` elements:
  `a + b`, then `+ b` again for each further step (`a + steps * b`).
  """
  def chain_program(n, steps) when steps >= 1 do
    type = %{dtype: :DTYPE_F32, shape: [n]}

    instructions =
      for i <- 0..(steps - 1) do
        lhs = if i == 0, do: 0, else: i + 1
        %{op: "add", operands: [lhs, 1], result: type}
      end

    %{inputs: [type, type], instructions: instructions, outputs: [steps + 1]}
  end

  @doc "An f32 vector tensor with its data inline."
  def f32_tensor(values) do
    %{
      dtype: :DTYPE_F32,
      shape: [length(values)],
      payload: {:data, for(v <- values, into: <<>>, do: <<v::float-32-little>>)}
    }
  end

  @doc "A zero-filled f32 vector of `n` elements (built without a list)."
  def zeros_f32(n),
    do: %{dtype: :DTYPE_F32, shape: [n], payload: {:data, :binary.copy(<<0::32>>, n)}}

  @doc "The numbers of an f32 tensor map."
  def values(%{dtype: :DTYPE_F32, payload: {:data, bytes}}),
    do: for(<<v::float-32-little <- bytes>>, do: v)

  @doc "Calls `fun` every 10 ms until it returns a truthy value (returned) or `timeout` ms pass (flunks)."
  def wait_until(fun, timeout \\ 5_000, what \\ "the condition") do
    deadline = System.monotonic_time(:millisecond) + timeout
    do_wait(fun, deadline, what)
  end

  defp do_wait(fun, deadline, what) do
    case fun.() do
      result when result not in [nil, false] ->
        result

      _ ->
        if System.monotonic_time(:millisecond) > deadline do
          ExUnit.Assertions.flunk("timed out waiting for #{what}")
        else
          Process.sleep(10)
          do_wait(fun, deadline, what)
        end
    end
  end

  @doc "Whether an OS process with this pid exists."
  def os_alive?(os_pid) do
    {_, status} = System.cmd("kill", ["-0", Integer.to_string(os_pid)], stderr_to_stdout: true)
    status == 0
  end

  @doc "Sends SIGKILL to an OS process."
  def kill9(os_pid) do
    {_, 0} = System.cmd("kill", ["-9", Integer.to_string(os_pid)], stderr_to_stdout: true)
    :ok
  end
end
