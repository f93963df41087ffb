defmodule PelemayBackend.NativeTest do
  # Where the executor comes from: PelemayBackend.Native.executor_path/0 and
  # the Mix compiler that builds it. Changes the OS and application
  # environment, so not async.
  use ExUnit.Case, async: false

  alias Mix.Tasks.Compile.PelemayExecutor, as: Compiler
  alias PelemayBackend.Native

  @env "PELEMAY_EXECUTOR_PATH"

  setup do
    saved_env = System.get_env(@env)
    saved_app = Application.get_env(:pelemay_backend, :executor_path)
    saved_shell = Mix.shell()
    Mix.shell(Mix.Shell.Process)

    on_exit(fn ->
      if saved_env, do: System.put_env(@env, saved_env), else: System.delete_env(@env)

      if saved_app,
        do: Application.put_env(:pelemay_backend, :executor_path, saved_app),
        else: Application.delete_env(:pelemay_backend, :executor_path)

      Mix.shell(saved_shell)
    end)

    %{env_set?: saved_env not in [nil, ""]}
  end

  @tag :tmp_dir
  test "executor_path: application env, then PELEMAY_EXECUTOR_PATH, then priv", %{tmp_dir: dir} do
    System.delete_env(@env)
    Application.delete_env(:pelemay_backend, :executor_path)
    assert Native.executor_path() == Native.priv_executor_path()
    assert String.ends_with?(Native.executor_path(), "priv/pelemay_executor")

    System.put_env(@env, Path.join(dir, "from_env"))
    assert Native.executor_path() == Path.join(dir, "from_env")

    Application.put_env(:pelemay_backend, :executor_path, "/opt/exec")
    assert Native.executor_path() == "/opt/exec"
  end

  @tag :tmp_dir
  test "the compiler uses PELEMAY_EXECUTOR_PATH as it is and builds nothing", %{tmp_dir: dir} do
    missing = Path.join(dir, "missing")
    System.put_env(@env, missing)
    assert_raise Mix.Error, ~r/no such file/, fn -> Compiler.run([]) end

    plain = Path.join(dir, "plain")
    File.write!(plain, "")
    File.chmod!(plain, 0o644)
    System.put_env(@env, plain)
    assert_raise Mix.Error, ~r/not executable/, fn -> Compiler.run([]) end

    File.chmod!(plain, 0o755)
    assert Compiler.run([]) == {:noop, []}
    refute_received {:mix_shell, :info, ["Building" <> _]}
  end

  # Only where `mix compile` built the executor itself (no PELEMAY_EXECUTOR_PATH).
  test "the built executor is up to date, and rebuilt once it looks stale", %{env_set?: env_set?} do
    if env_set? do
      IO.puts("\nnot checked: PELEMAY_EXECUTOR_PATH is set, so mix compile built nothing")
    else
      binary = Compiler.binary_path()
      assert File.regular?(binary)
      assert Native.priv_executor_path() |> File.read!() == File.read!(binary)
      # A C++ source edited since `mix test` compiled makes this one build.
      assert Compiler.run([]) in [{:noop, []}, {:ok, []}]
      assert Compiler.run([]) == {:noop, []}

      # Older than the sources: CMake runs (a no-op build) and the binary is
      # installed again.
      File.touch!(binary, 0)
      assert Compiler.run([]) == {:ok, []}
      assert_received {:mix_shell, :info, ["Building pelemay_executor" <> _]}
      assert %File.Stat{mtime: mtime} = File.stat!(binary, time: :posix)
      assert mtime > System.os_time(:second) - 600
      assert Compiler.run([]) == {:noop, []}
    end
  end
end
