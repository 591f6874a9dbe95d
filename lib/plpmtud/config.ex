defmodule PLPMTUD.Config do
  @moduledoc """
  Prober configuration: the `:plpmtud` application environment merged with
  per-prober options.

  Keys (IP MTU bytes and milliseconds):

    * `:mtu_discovery_enabled` (`true`) - probe at all; when `false` the
      PLPMTU is `:disabled_mtu` and no probe is ever due.
    * `:mtu_floor` (`576`) - the smallest PLPMTU, used without a probe.
      On IPv6 the floor in effect is never below 1280.
    * `:mtu_ceiling` (`1500`) - the largest size ever probed.
    * `:mtu_probe_interval` (`1_800_000`, 30 minutes) - from a completed
      search to the next one.
    * `:family` (`:inet`) - `:inet` or `:inet6`; decides the IP header size.
    * `:packet_overhead` (`8`) - bytes per packet above the IP header
      (UDP 8, plus the transport's own header; aiutp: 28).
    * `:disabled_mtu` (`nil`: the floor) - the PLPMTU while disabled
      (aiutp's fixed 1296-byte payload is 1344 on IPv4).
    * `:search_threshold` (`16`) - the search ends when the range is at most this.
    * `:strategy` (`:binary`) - or `:common_values`.
    * `:max_probes` (`3`) - lost transmissions before a size is too big.
    * `:failure_threshold` (`3`) - failed sizes before probing itself is checked.
    * `:probe_timeout` (`1000`) - probe timeout before RTT samples, or always
      when `:probe_timeout_mode` is `:fixed`.
    * `:probe_timeout_mode` (`:rtt`) - or `:fixed`.
    * `:min_probe_timeout` (`100`), `:max_probe_timeout` (`10_000`) - bounds
      of an RTT-derived probe timeout.
    * `:max_probe_interval` (`14_400_000`) - cap of the interval after fallbacks double it.
    * `:black_hole_threshold` (`3`) - loss bursts of full-size packets before a
      probe checks the PLPMTU.
    * `:aiutp_compat` (`false`) - aiutp's literal rules, for comparison only.

  Application environment entries under other keys are ignored (they belong
  to other parts of the application); unknown per-prober options are an error.
  """

  @typedoc "A configuration key."
  @type key :: atom()

  @typedoc "Options as a keyword list or a map."
  @type options :: keyword() | %{optional(key()) => term()}

  @doc "Every key a prober accepts."
  @spec keys() :: [key()]
  def keys, do: PLPMTUD.Native.config_keys()

  @doc """
  Merges the application environment with `options` into one map.

  Raises `ArgumentError` when `options` is neither a keyword list nor a map,
  or names a key that is not a configuration key.
  """
  @spec build(options()) :: %{key() => term()}
  def build(options \\ []) do
    keys = keys()
    options = to_map(options)

    case Enum.reject(Map.keys(options), &(&1 in keys)) do
      [] ->
        :plpmtud
        |> Application.get_all_env()
        |> Map.new()
        |> Map.take(keys)
        |> Map.merge(options)

      unknown ->
        raise ArgumentError,
              "unknown plpmtud option(s) #{inspect(unknown)}; known: #{inspect(keys)}"
    end
  end

  defp to_map(options) when is_map(options), do: options

  defp to_map(options) when is_list(options) do
    if Keyword.keyword?(options), do: Map.new(options), else: not_options(options)
  end

  defp to_map(options), do: not_options(options)

  defp not_options(options) do
    raise ArgumentError,
          "plpmtud options must be a keyword list or a map, got: #{inspect(options)}"
  end
end
