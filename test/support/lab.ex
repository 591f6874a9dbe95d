defmodule PLPMTUD.Test.Lab do
  @moduledoc """
  Test helper around `scripts/lab`: builds the namespace lab under a prefix of
  the test's own, and removes it when the test exits (also when it fails).
  """

  import ExUnit.Callbacks, only: [on_exit: 1]

  @script Path.expand("../../scripts/lab", __DIR__)
  @root Path.expand("../..", __DIR__)

  @doc "Addresses of the lab (same in every prefix: namespaces are isolated)."
  @spec addresses() :: %{atom() => :inet.ip_address()}
  def addresses do
    %{
      client4: {10, 71, 1, 1},
      r1_4: {10, 71, 1, 2},
      r2_4: {10, 71, 2, 2},
      server4: {10, 71, 3, 2},
      client6: {0xFD71, 1, 0, 0, 0, 0, 0, 1},
      r1_6: {0xFD71, 1, 0, 0, 0, 0, 0, 2},
      server6: {0xFD71, 3, 0, 0, 0, 0, 0, 2}
    }
  end

  @doc "True when the lab can run here (root, iproute2)."
  @spec available?() :: boolean()
  def available? do
    System.find_executable("ip") != nil and match?({"0\n", 0}, System.cmd("id", ["-u"]))
  end

  @doc """
  Builds the lab with `base`, `variant` and `extra` arguments (such as
  `["--loss", "5"]`); the prefix is `base-OSPID`, unique per run, and the
  lab is removed on exit (`scripts/lab gc` removes what a killed run left).
  Returns `%{prefix: _, client: _, r1: _, r2: _, server: _}`.
  """
  @spec up!(String.t(), String.t(), [String.t()]) :: %{atom() => String.t()}
  def up!(base, variant \\ "icmp", extra \\ []) do
    prefix = "#{base}-#{System.pid()}"
    on_exit(fn -> run(["down", "--prefix", prefix]) end)
    {out, status} = run(["up", "--prefix", prefix, "--variant", variant | extra])

    if status != 0 do
      raise "lab up failed (#{status}): #{out}"
    end

    %{
      prefix: prefix,
      client: "#{prefix}-c",
      r1: "#{prefix}-r1",
      r2: "#{prefix}-r2",
      server: "#{prefix}-s",
      attacker: "#{prefix}-a"
    }
  end

  @doc """
  Creates a network namespace with only `lo` up, named `base-OSPID-a`
  (so `gc/0` removes it after a killed run), removed when the test exits.
  """
  @spec loopback_ns!(String.t()) :: String.t()
  def loopback_ns!(base) do
    name = "#{base}-#{System.pid()}-a"
    System.cmd("ip", ["netns", "del", name], stderr_to_stdout: true)
    on_exit(fn -> System.cmd("ip", ["netns", "del", name], stderr_to_stdout: true) end)
    {_, 0} = System.cmd("ip", ["netns", "add", name], stderr_to_stdout: true)
    {_, 0} = System.cmd("ip", ["-n", name, "link", "set", "lo", "up"], stderr_to_stdout: true)
    name
  end

  @doc "Removes labs left by runs that were killed."
  @spec gc() :: :ok
  def gc do
    run(["gc"])
    :ok
  end

  @doc "Sets the MTU of the r2 -> server link of the lab with `prefix`."
  @spec set_mtu!(String.t(), pos_integer()) :: :ok
  def set_mtu!(prefix, mtu) do
    {_, 0} = run(["mtu", "--prefix", prefix, Integer.to_string(mtu)])
    :ok
  end

  @doc """
  Builds `forge_ptb` (the plpmtud_udp example that forges ICMP
  Packet-Too-Big messages from an attacker's namespace) and returns its path.
  """
  @spec build_forge_ptb!() :: String.t()
  def build_forge_ptb! do
    {out, status} =
      System.cmd("cargo", ~w(build -q --release -p plpmtud_udp --example forge_ptb),
        cd: @root,
        stderr_to_stdout: true
      )

    if status != 0, do: raise("building forge_ptb failed: #{out}")
    target = System.get_env("CARGO_TARGET_DIR", Path.join(@root, "target"))
    Path.join(target, "release/examples/forge_ptb")
  end

  defp run(args), do: System.cmd(@script, args, stderr_to_stdout: true)
end
