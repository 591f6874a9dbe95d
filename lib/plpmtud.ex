defmodule PLPMTUD do
  @moduledoc """
  Packetization-Layer Path MTU Discovery (RFC 4821 / RFC 8899) for the BEAM.

  This module is the functional API over a prober handle: one state machine
  per path, running in Rust, driven by the caller's events. It suits a
  transport that already owns a process per connection (aiutp): every call is
  a NIF that returns in microseconds, with no process hop. For a process that
  runs the timers itself, see `PLPMTUD.Prober`.

  Sizes are IP MTU bytes (the whole IP packet); the prober converts them to
  the payload one datagram carries (`payload_size/1`, `payload_for/2`,
  `ip_for/2`: the one place where the two units meet). Times are
  milliseconds of a monotonic clock; every event takes `now` and defaults it
  to `now_ms/0`.

  Every event function answers with the `t:event/0`s it produced, oldest
  first (`[]` when nothing happened): act on the answer; there is nothing to
  poll and no snapshot to compare.

      iex> {:ok, p} = PLPMTUD.new(packet_overhead: 28)
      iex> PLPMTUD.connected(p, 0)
      [{:search_started, 1500}, {:probe_due, 1038, 990}]
      iex> PLPMTUD.probe_sent(p, 7, 1038, 0)
      :ok
      iex> PLPMTUD.acked(p, 7, 3)
      [{:probe_acked, 7, 1038, 3}, {:mtu_changed, 576, 1038, :probe_acked, 990}, {:probe_due, 1269, 1221}]
      iex> PLPMTUD.tick(p, 4)
      []

  Wrong argument types raise `ArgumentError`; nothing here can crash the VM.
  """

  alias :plpmtud_nif, as: Native
  alias PLPMTUD.Config

  @typedoc "A prober handle (a NIF resource; freed when no longer referenced)."
  @opaque t :: reference()

  @typedoc "Milliseconds of a monotonic clock (never negative)."
  @type time_ms :: non_neg_integer()

  @typedoc "A probe id chosen by the caller (aiutp: the packet's sequence number)."
  @type probe_id :: non_neg_integer()

  @typedoc "RFC 8899 state."
  @type state :: :disabled | :base | :searching | :search_complete | :error

  @typedoc "Why the PLPMTU changed."
  @type change_reason ::
          :initial | :probe_acked | :probe_failed | :black_hole | :fallback | :disabled

  @typedoc "How a Packet-Too-Big or EMSGSIZE hint was judged."
  @type verdict :: :accepted | :unmatched | :not_smaller | :below_floor | :not_probing

  @typedoc """
  One thing a call made happen. Sizes are IP bytes; `payload` is what a
  datagram of that size carries for the transport.

    * `{:probe_due, size, payload}` - send a probe of this size now
    * `{:probe_acked, id, size, rtt_ms}`, `{:probe_lost, id, size, :timeout | :dup_ack | :resent}`
      (a lost probe is never congestion)
    * `{:mtu_changed, old, new, reason, payload}` - segment with `payload` from now on
    * `{:search_started, limit}`, `{:search_complete, mtu, payload}`
    * `{:fallback, mtu, next_search_in_ms}` - probing failed even at the PLPMTU
    * `{:black_hole_suspected, mtu}` - the PLPMTU is the floor while a probe
      of `mtu` checks it (its ack restores `mtu`), `{:black_hole_confirmed, lost_mtu}`
    * `{:ptb, mtu, verdict}`, `{:emsgsize, mtu, verdict}` - a hint and its verdict
  """
  @type event ::
          {:probe_due, size :: pos_integer(), payload :: non_neg_integer()}
          | {:probe_acked, probe_id(), size :: pos_integer(), rtt_ms :: non_neg_integer()}
          | {:probe_lost, probe_id(), size :: pos_integer(), :timeout | :dup_ack | :resent}
          | {:mtu_changed, old :: pos_integer(), new :: pos_integer(), change_reason(),
             payload :: non_neg_integer()}
          | {:search_started, limit :: pos_integer()}
          | {:search_complete, mtu :: pos_integer(), payload :: non_neg_integer()}
          | {:fallback, mtu :: pos_integer(), next_search_in_ms :: non_neg_integer()}
          | {:black_hole_suspected, mtu :: pos_integer()}
          | {:black_hole_confirmed, lost_mtu :: pos_integer()}
          | {:ptb | :emsgsize, mtu :: pos_integer(), verdict()}

  @typedoc "Why a configuration was refused."
  @type config_error :: {:invalid_config, Config.key(), String.t()}

  @doc "Milliseconds since the VM started, from the monotonic clock."
  @spec now_ms() :: time_ms()
  def now_ms do
    System.convert_time_unit(
      :erlang.monotonic_time() - :erlang.system_info(:start_time),
      :native,
      :millisecond
    )
  end

  @doc """
  A new prober for one path, idle until `connected/2`.

  `options` are merged over the `:plpmtud` application environment; see
  `PLPMTUD.Config` for the keys. Unknown keys and values of the wrong kind
  raise `ArgumentError`; values out of range or inconsistent return
  `{:error, {:invalid_config, key, message}}`.
  """
  @spec new(Config.options()) :: {:ok, t()} | {:error, config_error()}
  def new(options \\ []) do
    case Native.prober_new(Config.build(options)) do
      {:ok, prober} -> {:ok, prober}
      {:error, {:badarg, _key, message}} -> raise ArgumentError, message
      {:error, {:invalid_config, _key, _message}} = error -> error
    end
  end

  @doc "The connection is up: discovery starts. Repeated calls are ignored (`[]`)."
  @spec connected(t(), time_ms()) :: [event()]
  def connected(prober, now \\ now_ms()), do: Native.prober_connected(prober, now)

  @doc """
  Like `connected/2` for a destination whose MTU is known (see
  `PLPMTUD.Cache`): the first and, if acknowledged, only probe is `hint`.
  """
  @spec connected_with_hint(t(), pos_integer(), time_ms()) :: [event()]
  def connected_with_hint(prober, hint, now \\ now_ms()),
    do: Native.prober_connected_hint(prober, now, hint)

  @doc """
  The IP size to probe now, or `nil` when no probe is due. Send a packet of
  exactly this many IP bytes (DF set), then call `probe_sent/4`.
  """
  @spec next_probe(t()) :: pos_integer() | nil
  def next_probe(prober), do: Native.prober_next_probe(prober)

  @doc """
  A probe of `size` IP bytes named `id` was sent.

  Errors: `:not_due` (no probe is due), `{:in_flight, id}` (as many
  probes of the size as `:probe_copies` allows are out already),
  `{:wrong_size, expected}`.
  """
  @spec probe_sent(t(), probe_id(), pos_integer(), time_ms()) ::
          :ok | {:error, :not_due | {:in_flight, probe_id()} | {:wrong_size, pos_integer()}}
  def probe_sent(prober, id, size, now \\ now_ms()),
    do: Native.prober_probe_sent(prober, now, id, size)

  @doc """
  Probe `id` was acknowledged: `{:probe_acked, ...}` and what followed, or
  `[]` (and counted as stale) if it is not the probe in flight, or
  `{:probe_lost, id, size, :resent}` if its id was sent again at another
  size meanwhile (see `claim_probe/4`).
  """
  @spec acked(t(), probe_id(), time_ms()) :: [event()]
  def acked(prober, id, now \\ now_ms()), do: Native.prober_probe_acked(prober, now, id)

  @doc """
  Probe `id` was lost, by `:timeout` or `:dup_ack`: `{:probe_lost, ...}` and
  what followed, or `[]` (and counted as stale) if it is not the probe in
  flight. A size is judged too big only after `:max_probes` lost transmissions.
  """
  @spec lost(t(), probe_id(), :timeout | :dup_ack, time_ms()) :: [event()]
  def lost(prober, id, reason, now \\ now_ms()),
    do: Native.prober_probe_lost(prober, now, id, reason)

  @doc """
  True if `id` named one of the latest probes: keep its loss out of
  congestion control (probe loss is not congestion, RFC 8899).
  """
  @spec probe?(t(), probe_id()) :: boolean()
  def probe?(prober, id), do: Native.prober_is_probe(prober, id)

  @doc "A data packet of `size` IP bytes was acknowledged (clears black-hole suspicion)."
  @spec packet_acked(t(), pos_integer(), time_ms()) :: [event()]
  def packet_acked(prober, size, now \\ now_ms()),
    do: Native.prober_packet_acked(prober, now, size)

  @doc "A data packet of `size` IP bytes was lost (input of black-hole detection)."
  @spec packet_lost(t(), pos_integer(), time_ms()) :: [event()]
  def packet_lost(prober, size, now \\ now_ms()),
    do: Native.prober_packet_lost(prober, now, size)

  @doc "An RTT sample in milliseconds (the probe timeout follows RFC 6298)."
  @spec rtt_sample(t(), non_neg_integer()) :: :ok
  def rtt_sample(prober, rtt_ms), do: Native.prober_rtt_sample(prober, rtt_ms)

  @doc """
  An ICMP Packet-Too-Big hint reporting `mtu`, quoting probe `quoted_probe`
  (`nil` if the quoted packet matched no probe). The answer starts with
  `{:ptb, mtu, verdict}`: `:accepted` (the size will be probed to confirm
  it) or why it was ignored.
  """
  @spec ptb(t(), pos_integer(), probe_id() | nil, time_ms()) :: [event()]
  def ptb(prober, mtu, quoted_probe, now \\ now_ms()),
    do: Native.prober_ptb(prober, now, mtu, quoted_probe)

  @doc """
  The local stack refused a send with EMSGSIZE because it knows the path MTU
  is `mtu` (IP bytes). It needs no matching (it never crossed the network),
  but `mtu` may be the kernel's PMTU cache, which any ICMP quoting the flow
  lowers: it limits the search, and below the PLPMTU it starts a check of
  the PLPMTU (the floor meanwhile) as a PTB does. The answer starts with
  `{:emsgsize, mtu, verdict}`.
  """
  @spec emsgsize(t(), pos_integer(), time_ms()) :: [event()]
  def emsgsize(prober, mtu, now \\ now_ms()), do: Native.prober_emsgsize(prober, now, mtu)

  @doc """
  The local stack refused to send a packet of `refused` IP bytes
  (EMSGSIZE), knowing the path MTU `kernel_mtu` (or `nil` when it could not
  be read): no size above `min(kernel_mtu, refused - 1)` can leave. The
  answer starts with `{:emsgsize, limit, verdict}`.
  """
  @spec send_refused(t(), pos_integer(), pos_integer() | nil, time_ms()) :: [event()]
  def send_refused(prober, refused, kernel_mtu, now \\ now_ms()),
    do: Native.prober_send_refused(prober, now, refused, kernel_mtu)

  @doc """
  Makes data packet `id` of `size` IP bytes the probe if a probe of exactly
  that size is due; `true` if it became the probe. One atomic call, for
  transports that use real data packets as probes. Call it for every
  transmission, resends included: once the probe's id goes again at
  another size (its data unpadded), no acknowledgement of the id confirms
  the probe (`acked/3` answers `{:probe_lost, id, size, :resent}`).
  """
  @spec claim_probe(t(), probe_id(), pos_integer(), time_ms()) :: boolean()
  def claim_probe(prober, id, size, now \\ now_ms()),
    do: Native.prober_claim_probe(prober, now, id, size)

  @doc "Bytes of every packet that are not payload: the IP header plus `:packet_overhead`."
  @spec overhead(t()) :: pos_integer()
  def overhead(prober), do: Native.prober_overhead(prober)

  @doc "Runs the timers due at `now`: probe timeouts and the next search."
  @spec tick(t(), time_ms()) :: [event()]
  def tick(prober, now \\ now_ms()), do: Native.prober_tick(prober, now)

  @doc "When `tick/2` must next run, or `nil`."
  @spec deadline(t()) :: time_ms() | nil
  def deadline(prober), do: Native.prober_deadline(prober)

  @doc "The probe timeout in force now, in ms (fixed, or from the RTT samples)."
  @spec probe_timeout(t()) :: pos_integer()
  def probe_timeout(prober), do: Native.prober_probe_timeout(prober)

  @doc "Starts a search now; `[]` if disabled, not connected or already searching."
  @spec probe_now(t(), time_ms()) :: [event()]
  def probe_now(prober, now \\ now_ms()), do: Native.prober_probe_now(prober, now)

  @doc "Turns discovery on (a fresh search) or off (the fixed `:disabled_mtu`)."
  @spec set_enabled(t(), boolean(), time_ms()) :: [event()]
  def set_enabled(prober, enabled, now \\ now_ms()),
    do: Native.prober_set_enabled(prober, now, enabled)

  @doc "Payload bytes a datagram of `size` IP bytes carries (the prober's family and overhead)."
  @spec payload_for(t(), pos_integer()) :: non_neg_integer()
  def payload_for(prober, size), do: Native.prober_payload_for(prober, size)

  @doc "IP bytes of a datagram carrying `payload` bytes of the transport's payload."
  @spec ip_for(t(), non_neg_integer()) :: pos_integer()
  def ip_for(prober, payload), do: Native.prober_ip_for(prober, payload)

  @doc "The current PLPMTU, in IP bytes."
  @spec mtu(t()) :: pos_integer()
  def mtu(prober), do: Native.prober_mtu(prober)

  @doc "Payload bytes one datagram carries at the PLPMTU (after IP header and `:packet_overhead`)."
  @spec payload_size(t()) :: non_neg_integer()
  def payload_size(prober), do: Native.prober_payload_size(prober)

  @doc "The RFC 8899 state."
  @spec state(t()) :: state()
  def state(prober), do: Native.prober_state(prober)

  @doc "Counters since creation (probes, stale events, PTBs, black holes, fallbacks, ...)."
  @spec stats(t()) :: %{atom() => non_neg_integer()}
  def stats(prober), do: Native.prober_stats(prober)

  @doc "The latest PLPMTU changes, oldest first (bounded)."
  @spec history(t()) :: [
          %{at: time_ms(), old: non_neg_integer(), new: pos_integer(), reason: change_reason()}
        ]
  def history(prober), do: Native.prober_history(prober)

  @doc "A snapshot: state, mtu, payload size, search range, next probe, deadline, probe timeout."
  @spec info(t()) :: %{atom() => term()}
  def info(prober), do: Native.prober_info(prober)

  @doc """
  Checks the prober's internal invariants: `:ok` or `{:error, description}`.
  For tests and diagnostics; a failure is a bug to report.
  """
  @spec check(t()) :: :ok | {:error, String.t()}
  def check(prober), do: Native.prober_check(prober)

  @doc "The version of the Rust engine the NIF was built with, e.g. `\"0.1.0\"`."
  @spec core_version() :: String.t()
  defdelegate core_version, to: Native
end
