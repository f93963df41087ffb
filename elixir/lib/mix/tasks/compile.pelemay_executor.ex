defmodule Mix.Tasks.Compile.PelemayExecutor do
  @moduledoc """
  Builds the C++ executor with CMake and puts it at `priv/pelemay_executor`.

  Runs

      cmake -S <repository root> -B _build/native/<config> \\
            -DPELEMAY_BUILD_TESTS=OFF -DPELEMAY_BUILD_BENCH=OFF [-G Ninja]
      cmake --build _build/native/<config> --target pelemay_executor

  with the Ninja generator when `ninja` is on the PATH, then copies the binary
  to `priv/pelemay_executor` (atomically: a running executor is not disturbed).

  Nothing is built when `priv/pelemay_executor` is up to date: newer than every
  file under `executor/`, `proto/`, `shared_mem/`, `cmake/` and than the
  top-level `CMakeLists.txt`, and built with the same configuration.

  ## Environment

    * `PELEMAY_EXECUTOR_PATH` - use this executor binary; build nothing. It
      must exist and be executable. `PelemayBackend.Native.executor_path/0`
      returns it at run time.
    * `CMAKE_TOOLCHAIN_FILE` - passed to CMake as `-DCMAKE_TOOLCHAIN_FILE=`
      (cross-compiling, e.g. `cmake/toolchain-aarch64-linux-gnu.cmake`).
    * `CC`, `CXX` - the compilers CMake picks up when it configures.
    * `PELEMAY_CMAKE_ARGS` - more arguments for the configure step, split as
      a shell would (e.g. `-DPELEMAY_SANITIZE=ON`).
    * `CMAKE_BUILD_PARALLEL_LEVEL` - build jobs (default: the schedulers online).

  Each distinct configuration (toolchain, compilers, generator, extra arguments)
  gets its own build directory, so switching between them never reuses a
  stale CMake cache.

  ## Options

    * `--force` - run the CMake build even when the binary looks up to date
    * `--verbose` - stream CMake's output instead of printing it only on failure
  """
  use Mix.Task.Compiler

  @binary "pelemay_executor"
  @source_dirs ~w(executor proto shared_mem cmake)
  @source_files ~w(CMakeLists.txt)

  @impl Mix.Task.Compiler
  def run(args) do
    {opts, _, _} = OptionParser.parse(args, switches: [force: :boolean, verbose: :boolean])

    case System.get_env("PELEMAY_EXECUTOR_PATH") do
      path when path not in [nil, ""] -> use_prebuilt(path)
      _ -> build(opts)
    end
  end

  @impl Mix.Task.Compiler
  def clean do
    File.rm(binary_path())
    File.rm(stamp_path())
    File.rm_rf(native_root())
    :ok
  end

  @doc "The path of the executor this compiler produces: `priv/pelemay_executor`."
  def binary_path, do: Path.join(priv_dir(), @binary)

  defp use_prebuilt(path) do
    path = Path.expand(path)

    cond do
      not File.regular?(path) ->
        Mix.raise("PELEMAY_EXECUTOR_PATH=#{path}: no such file")

      not executable?(path) ->
        Mix.raise("PELEMAY_EXECUTOR_PATH=#{path}: not executable")

      true ->
        {:noop, []}
    end
  end

  defp build(opts) do
    root = repo_root()

    unless File.regular?(Path.join(root, "CMakeLists.txt")) do
      Mix.raise(
        "cannot build the executor: no CMakeLists.txt in #{root}. " <>
          "Set PELEMAY_EXECUTOR_PATH to a built pelemay_executor instead."
      )
    end

    config = config()

    if !opts[:force] and up_to_date?(root, config) do
      {:noop, []}
    else
      cmake = System.find_executable("cmake") || Mix.raise("cmake not found on the PATH")
      build_dir = Path.join(native_root(), config_hash(config))
      Mix.shell().info("Building #{@binary} with CMake in #{Path.relative_to_cwd(build_dir)}")
      started = System.os_time(:second)
      configure(cmake, root, build_dir, config, opts)
      compile(cmake, build_dir, opts)
      install(Path.join([build_dir, "executor", @binary]), config, started)
      {:ok, []}
    end
  end

  defp configure(cmake, root, build_dir, config, opts) do
    marker = Path.join(build_dir, ".pelemay_configured")

    unless File.exists?(marker) do
      File.mkdir_p!(build_dir)

      args =
        ["-S", root, "-B", build_dir, "-DPELEMAY_BUILD_TESTS=OFF", "-DPELEMAY_BUILD_BENCH=OFF"] ++
          if(config.generator, do: ["-G", config.generator], else: []) ++
          if(config.toolchain, do: ["-DCMAKE_TOOLCHAIN_FILE=#{config.toolchain}"], else: []) ++
          config.extra_args

      try do
        cmd!(cmake, args, "CMake configure", opts)
      rescue
        error in Mix.Error ->
          # A failed configure leaves a cache that would poison the next try.
          File.rm(Path.join(build_dir, "CMakeCache.txt"))
          File.rm_rf(Path.join(build_dir, "CMakeFiles"))
          reraise error, __STACKTRACE__
      end

      File.write!(marker, "")
    end
  end

  defp compile(cmake, build_dir, opts) do
    jobs =
      case Integer.parse(System.get_env("CMAKE_BUILD_PARALLEL_LEVEL", "")) do
        {n, ""} when n > 0 -> n
        _ -> System.schedulers_online()
      end

    args = ["--build", build_dir, "--target", @binary, "--parallel", Integer.to_string(jobs)]
    cmd!(cmake, args, "CMake build", opts)
  end

  # Copy, then rename over the old binary: writing into a binary that a
  # running executor has open would fail with ETXTBSY.
  #
  # The installed binary's mtime is the time the build started: a source
  # edited during the build is newer and triggers the next one, and files
  # CMake does not build from (examples, docs) stop looking newer once built.
  defp install(built, config, started) do
    unless File.regular?(built) do
      Mix.raise("CMake build succeeded but #{built} does not exist")
    end

    File.mkdir_p!(priv_dir())
    tmp = binary_path() <> ".tmp"
    File.cp!(built, tmp)
    File.chmod!(tmp, 0o755)
    File.touch!(tmp, started)
    File.rename!(tmp, binary_path())
    File.write!(stamp_path(), stamp(config))

    # Mix links priv/ into _build before the compilers run; on the first
    # build priv/ did not exist yet, so link it now.
    Mix.Project.build_structure()
  end

  defp cmd!(cmake, args, what, opts) do
    if opts[:verbose] do
      Mix.shell().info(Enum.join([cmake | args], " "))

      case System.cmd(cmake, args, stderr_to_stdout: true, into: IO.stream(:stdio, :line)) do
        {_, 0} -> :ok
        {_, status} -> Mix.raise("#{what} failed (exit status #{status}); see the output above")
      end
    else
      case System.cmd(cmake, args, stderr_to_stdout: true) do
        {_, 0} ->
          :ok

        {output, status} ->
          Mix.shell().error(output)

          Mix.raise(
            "#{what} failed (exit status #{status}): #{Enum.join([cmake | args], " ")}\n" <>
              "The output is above. Install the dependencies with scripts/setup, or set " <>
              "PELEMAY_EXECUTOR_PATH to a built pelemay_executor."
          )
      end
    end
  end

  ## Staleness

  defp up_to_date?(root, config) do
    with {:ok, %File.Stat{mtime: built}} <- File.stat(binary_path(), time: :posix),
         {:ok, stamp} <- File.read(stamp_path()),
         true <- stamp == stamp(config) do
      Enum.all?(source_files(root), fn file ->
        case File.stat(file, time: :posix) do
          {:ok, %File.Stat{mtime: mtime}} -> mtime < built
          {:error, _} -> true
        end
      end)
    else
      _ -> false
    end
  end

  defp source_files(root) do
    dirs =
      Enum.flat_map(@source_dirs, &Path.wildcard(Path.join([root, &1, "**"]), match_dot: true))

    files = Enum.map(@source_files, &Path.join(root, &1))
    Enum.filter(dirs ++ files, &File.regular?/1)
  end

  ## Configuration

  defp config do
    toolchain =
      case System.get_env("CMAKE_TOOLCHAIN_FILE") do
        nil -> nil
        "" -> nil
        file -> Path.expand(file)
      end

    %{
      toolchain: toolchain,
      cc: System.get_env("CC"),
      cxx: System.get_env("CXX"),
      generator: if(System.find_executable("ninja"), do: "Ninja"),
      extra_args: OptionParser.split(System.get_env("PELEMAY_CMAKE_ARGS", ""))
    }
  end

  defp stamp(config), do: inspect(Enum.sort(Map.to_list(config)), limit: :infinity) <> "\n"

  # phash2 is stable across runs and machines; no need for :crypto.
  defp config_hash(config) do
    hash = :erlang.phash2(stamp(config), 4_294_967_296)
    hash |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(8, "0")
  end

  ## Paths

  defp project_dir do
    case Mix.Project.project_file() do
      nil -> File.cwd!()
      file -> Path.dirname(file)
    end
  end

  defp repo_root, do: Path.expand("..", project_dir())
  defp priv_dir, do: Path.join(project_dir(), "priv")
  defp stamp_path, do: Path.join(priv_dir(), @binary <> ".config")

  # Shared by every Mix environment: the executor does not depend on it.
  defp native_root, do: Path.join(Path.dirname(Mix.Project.build_path()), "native")

  defp executable?(path) do
    case File.stat(path) do
      {:ok, %File.Stat{mode: mode}} -> Bitwise.band(mode, 0o111) != 0
      _ -> false
    end
  end
end
