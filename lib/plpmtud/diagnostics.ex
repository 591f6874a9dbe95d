defmodule PLPMTUD.Diagnostics do
  @moduledoc """
  What this node knows about its paths, and what looks wrong: per-path
  MTUs (running probers and the cache) and their distribution
  (`mtu_distribution`: MTU => hosts, each host counted once), discovery
  outcomes, black holes, PTBs accepted and rejected by reason, fallbacks and
  MTU changes, with plain-language warnings.
  """

  alias PLPMTUD.{Cache, Prober, Socket}

  @counters ~w(searches_completed fallbacks black_holes ptb_accepted ptb_unmatched ptb_not_smaller
               ptb_below_floor ptb_not_probing probes_sent probes_acked probes_lost_timeout
               probes_lost_dup_ack)a

  @typedoc "A running prober as the report sees it."
  @type prober_entry :: %{
          pid: pid(),
          peer: {:inet.ip_address(), :inet.port_number()} | nil,
          info: map(),
          stats: map()
        }

  @typedoc "What `report/0` returns."
  @type report :: %{
          probers: [prober_entry()],
          cache: [{:inet.ip_address(), Cache.entry()}],
          cache_stats: %{atom() => non_neg_integer()},
          totals: %{atom() => non_neg_integer()},
          mtu_distribution: %{pos_integer() => pos_integer()},
          warnings: [String.t()]
        }

  @doc "A report of every running prober and cache entry; see the module doc."
  @spec report() :: report()
  def report do
    probers =
      for {pid, peer} <- Registry.lookup(PLPMTUD.Registry, :probers), Process.alive?(pid) do
        info = safe(fn -> Prober.info(pid) end)
        %{pid: pid, peer: peer, info: info, stats: info && info.stats}
      end
      |> Enum.filter(&(&1.info && &1.stats))

    cache = Cache.entries()

    totals =
      Map.new(@counters, fn k -> {k, Enum.sum(Enum.map(probers, &Map.get(&1.stats, k, 0)))} end)

    # One MTU per host: a running prober's, else the cache's (a prober with
    # `cache: true` has an entry too); each fed prober is a path of its own.
    probed = for %{peer: {ip, _port}} <- probers, into: MapSet.new(), do: ip

    mtus =
      (probers |> Enum.uniq_by(&host/1) |> Enum.map(& &1.info.packet_ip)) ++
        for {ip, e} <- cache, not MapSet.member?(probed, ip), do: e.mtu

    %{
      probers: probers,
      cache: cache,
      cache_stats: Cache.stats(),
      totals: totals,
      mtu_distribution: Enum.frequencies(mtus),
      warnings: warnings(probers, cache, totals)
    }
  end

  defp host(%{peer: {ip, _port}}), do: ip
  defp host(%{pid: pid}), do: pid

  defp safe(fun) do
    fun.()
  catch
    :exit, _ -> nil
  end

  @doc "The warnings of a report, in plain language."
  @spec warnings([map()], [{:inet.ip_address(), map()}], map()) :: [String.t()]
  def warnings(probers, cache, totals) do
    searches = max(totals.searches_completed, 1)

    [
      totals.black_holes * 10 >= searches and totals.black_holes > 0 &&
        "frequent black holes (#{totals.black_holes} in #{totals.searches_completed} searches): " <>
          "ICMP is probably filtered on these paths; keep black-hole detection on",
      totals.fallbacks > 0 &&
        "#{totals.fallbacks} fallback(s) to the floor: probes went unanswered (is the peer's responder running, or probing blocked?)",
      totals.ptb_unmatched + totals.ptb_not_smaller + totals.ptb_below_floor > 10 &&
        "#{totals.ptb_unmatched + totals.ptb_not_smaller + totals.ptb_below_floor} Packet-Too-Big messages did not match a probe: stale, or forged",
      Enum.any?(cache, fn {_, e} -> length(e.history) >= 4 end) &&
        "some paths changed MTU 4 times or more: unstable paths (tunnels coming and going?)",
      impossible_ipv6(probers, cache)
    ]
    |> Enum.filter(&is_binary/1)
  end

  @doc """
  An address and port as people write them: `"192.0.2.1:4821"`,
  `"[2001:db8::1]:4821"`; the address alone when `port` is `nil`.
  """
  @spec format_peer(:inet.ip_address(), :inet.port_number() | nil) :: String.t()
  def format_peer(ip, nil), do: to_string(:inet.ntoa(ip))

  def format_peer(ip, port) when tuple_size(ip) == 8, do: "[#{:inet.ntoa(ip)}]:#{port}"
  def format_peer(ip, port), do: "#{:inet.ntoa(ip)}:#{port}"

  defp impossible_ipv6(probers, cache) do
    low =
      Enum.any?(cache, fn {ip, e} -> Socket.family_of(ip) == :inet6 and e.mtu < 1280 end) or
        Enum.any?(probers, fn p ->
          Socket.family_of(p.peer) == :inet6 and p.info.packet_ip < 1280
        end)

    low && "an IPv6 path MTU below 1280 is impossible: a bug or an attack"
  end
end
