defmodule PLPMTUD.Test.AiutpLab do
  @moduledoc false
  # The harness of the real aiutp across the namespace lab, shared by
  # test/plpmtud/aiutp_lab_test.exs and bench/aiutp.exs: builds the
  # unmodified and the patched aiutp (examples/aiutp/plpmtud.patch) with
  # erlc, offline, and runs one transfer between a client VM and a server
  # VM in a lab's namespaces.
  #
  # Builds: `:ref` (the fixture), `:pat` (with plpmtud.patch), and the same
  # two with aiutp's own send fix (examples/aiutp/window.patch, which sends
  # queued data when an ack opens the window): `:refw` and `:patw`.

  alias PLPMTUD.Test.Lab

  @root Path.expand("../..", __DIR__)
  @port 9000
  @builds [:ref, :pat, :refw, :patw]

  @doc """
  Where the unmodified aiutp is: `$AIUTP_FIXTURE`, else `../shared/aiutp`
  beside this checkout, else beside the repository it was cloned from (a
  clean clone of a local repository made elsewhere).
  """
  def fixture do
    candidates = fixture_candidates()
    System.get_env("AIUTP_FIXTURE") || Enum.find(candidates, hd(candidates), &File.dir?/1)
  end

  # A patch applied: examples/aiutp's, or the one of that name in
  # `$AIUTP_PATCHES` if it holds one (to compare another version against
  # the committed one; bench/aiutp.exs names the directory it used).
  @doc false
  def patch(name) do
    dir = System.get_env("AIUTP_PATCHES")
    other = dir && Path.expand(name, dir)
    if other && File.regular?(other), do: other, else: Path.join(@root, "examples/aiutp/" <> name)
  end

  defp fixture_candidates do
    [@root | origin_dirs()] |> Enum.map(&Path.expand("../shared/aiutp", &1))
  end

  # The directory of the repository this checkout was cloned from, when
  # that is a local path (`/repo`, `/repo/.git`, `file:///repo`).
  defp origin_dirs do
    with git when is_binary(git) <- System.find_executable("git"),
         {url, 0} <-
           System.cmd(git, ["-C", @root, "remote", "get-url", "origin"], stderr_to_stdout: true),
         [line | _] <- String.split(url, "\n", trim: true),
         dir = Path.expand(String.replace_prefix(line, "file://", ""), @root),
         dir = if(Path.basename(dir) == ".git", do: Path.dirname(dir), else: dir),
         true <- File.dir?(dir) do
      [dir]
    else
      _ -> []
    end
  end

  # plpmtud as rebar3 lays it out (the Erlang facade, no Elixir), aiutp
  # unmodified and patched, each with the lab harness.
  def build!(dir, builds \\ @builds) do
    plp = Path.join(dir, "lib/plpmtud")
    File.mkdir_p!(Path.join(plp, "ebin"))

    for m <- [:plpmtud, :plpmtud_nif, :plpmtud_socket] do
      File.cp!(:code.which(m), Path.join(plp, "ebin/#{m}.beam"))
    end

    File.cp!(Path.join(@root, "src/plpmtud.app.src"), Path.join(plp, "ebin/plpmtud.app"))
    File.ln_s!(Path.join(@root, "priv"), Path.join(plp, "priv"))

    for build <- builds do
      src = Path.join(dir, "aiutp_#{build}")
      File.cp_r!(fixture(), src)

      for {patch, builds} <- [{"plpmtud.patch", [:pat, :patw]}, {"window.patch", [:refw, :patw]}],
          build in builds do
        patch = patch(patch)
        {out, 0} = System.cmd("patch", ["-p1", "-i", patch], cd: src, stderr_to_stdout: true)
        if out =~ "FAILED", do: raise("patch failed: #{out}")
      end

      ebin = Path.join(src, "ebin")
      File.mkdir_p!(ebin)
      File.cp!(Path.join(src, "src/aiutp.app.src"), Path.join(ebin, "aiutp.app"))
      files = Path.wildcard(Path.join(src, "src/*.erl"))
      harness = Path.join(@root, "examples/aiutp/aiutp_lab.erl")
      args = ["-I", Path.join(src, "include"), "-pa", Path.join(plp, "ebin"), "-o", ebin]
      {out, 0} = System.cmd("erlc", args ++ files ++ [harness], stderr_to_stdout: true)
      if out =~ "rror", do: raise("erlc failed: #{out}")
    end

    Map.new(builds, &{&1, Path.join(dir, "aiutp_#{&1}/ebin")})
    |> Map.put(:plp, Path.join(plp, "ebin"))
  end

  @doc "Whether `build` has plpmtud (discovery on)."
  def patched?(build), do: build in [:pat, :patw]

  defp erl(ns, build, paths, args) do
    pa = if patched?(build), do: [paths[build], paths.plp], else: [paths[build]]
    env = if patched?(build), do: ["-aiutp", "mtu_discovery_enabled", "true"], else: []

    ["netns", "exec", ns, "erl", "+S", "1", "+SDio", "1", "-noshell", "-pa" | pa] ++
      env ++ ["-run", "aiutp_lab" | args]
  end

  defp open(args) do
    port =
      Port.open({:spawn_executable, System.find_executable("ip")}, [
        :binary,
        :exit_status,
        :stderr_to_stdout,
        args: args
      ])

    {:os_pid, pid} = Port.info(port, :os_pid)
    {port, pid}
  end

  defp collect(port, acc, until) do
    receive do
      {^port, {:data, data}} -> collect(port, acc <> data, until)
      {^port, {:exit_status, _}} -> acc
    after
      max(until - System.monotonic_time(:millisecond), 0) -> acc
    end
  end

  defp wait_line(port, line, acc, until) do
    receive do
      {^port, {:data, data}} ->
        if String.contains?(acc <> data, line),
          do: :ok,
          else: wait_line(port, line, acc <> data, until)
    after
      max(until - System.monotonic_time(:millisecond), 0) -> {:error, acc}
    end
  end

  # One transfer: server up, client sends, the MTU drops on time; the
  # client's last term is the result.
  def transfer(ns, build, paths, drop, bytes, max_ms) do
    # The VMs get 5 s less than the harness waits, so that a client that
    # times out prints its state (window, oldest packets) before it is killed.
    until = System.monotonic_time(:millisecond) + max_ms + 5_000
    max = Integer.to_string(max_ms)
    {server, spid} = open(erl(ns.server, build, paths, ["server", "#{@port}", "#{bytes}", max]))
    :ok = wait_line(server, "listening", "", until)
    server4 = Lab.addresses().server4 |> :inet.ntoa() |> to_string()
    args = ["client", server4, "#{@port}", "#{bytes}", max]
    {client, cpid} = open(erl(ns.client, build, paths, args))

    parent = self()

    dropper =
      case drop do
        {at, mtu} ->
          spawn_link(fn ->
            Process.sleep(at)
            Lab.set_mtu!(ns.prefix, mtu)
            send(parent, {:dropped, self()})
          end)

        nil ->
          nil
      end

    out = collect(client, "", until)
    # Both VMs halt on their own (the server 2 s after its answer, both at
    # max_ms at the latest); those still running are ended by their pid.
    System.cmd("kill", ["-9", "#{spid}", "#{cpid}"], stderr_to_stdout: true)
    out |> parse() |> Map.put(:dropped, dropped?(dropper))
  end

  # Whether the MTU dropped before the transfer ended (`nil`: no drop). A
  # drop still due is called off: the lab goes down after the transfer.
  defp dropped?(nil), do: nil

  defp dropped?(dropper) do
    Process.unlink(dropper)
    Process.exit(dropper, :kill)

    receive do
      {:dropped, ^dropper} -> true
    after
      0 -> false
    end
  end

  defp parse(out) do
    case Regex.scan(~r/#\{.*?\}\.\s*$/s, out) do
      [[term] | _] ->
        with {:ok, tokens, _} <- :erl_scan.string(String.to_charlist(term)),
             {:ok, value} <- :erl_parse.parse_term(tokens) do
          Map.put(value, :output, out)
        else
          _ -> %{completed: false, output: out}
        end

      [] ->
        %{completed: false, output: out}
    end
  end
end
