defmodule PLPMTUD do
  @moduledoc """
  Packetization-Layer Path MTU Discovery (RFC 4821 / RFC 8899) for the BEAM.

  The Elixir face of `:plpmtud`, the one facade over a prober handle: one
  state machine per path, running in Rust, driven by the transport's events.
  Every function here delegates to the `:plpmtud` function of the same name
  (the functions that take the time default it to `now_ms/0`), so both
  languages get the same calls, the same answers and the same unit.

  Sizes are in the handle's unit, the `:size_unit` option: `:payload` (the
  default: what one datagram carries for the transport, after the IP header
  and `:packet_overhead`) or `:ip` (whole IP datagrams). MTUs reported by the
  network or the kernel are IP bytes in every unit: `on_ptb/4`'s `ip_mtu`,
  `on_send_refused/5`'s kernel MTU and the `{:ptb | :emsgsize, ip_mtu,
  verdict}` events. Times are milliseconds of a monotonic clock.

  Every event function answers with the `t:event/0`s it produced, oldest
  first (`[]` when nothing happened): act on the answer; there is nothing to
  poll and no snapshot to compare.

      iex> {:ok, p} = PLPMTUD.new(packet_overhead: 28)
      iex> PLPMTUD.connected(p, 0)
      [{:search_started, 1452}, {:probe_due, 990}]
      iex> PLPMTUD.on_send(p, 7, 990, 0)
      :probe
      iex> PLPMTUD.on_ack(p, 7, 990, 3)
      [{:probe_acked, 7, 990, 3}, {:mtu_changed, 528, 990, :probe_acked}, {:probe_due, 1221}]
      iex> PLPMTUD.on_tick(p, 4)
      []

  Wrong argument types raise `ArgumentError`; nothing here can crash the VM.
  """

  @typedoc "A prober handle (a NIF resource; freed when no longer referenced)."
  @opaque t :: reference()

  @typedoc "Milliseconds of a monotonic clock (never negative)."
  @type time_ms :: non_neg_integer()

  @typedoc "A packet's sequence number or id, chosen by the caller (aiutp: the uTP seq)."
  @type seq :: non_neg_integer()

  @typedoc "A size in the handle's unit (`:size_unit`: payload or IP bytes)."
  @type size :: non_neg_integer()

  @typedoc "An MTU reported by the network or the kernel: IP bytes in every unit."
  @type ip_mtu :: pos_integer()

  @typedoc "RFC 8899 state."
  @type state :: :disabled | :base | :searching | :search_complete | :error

  @typedoc "Why the PLPMTU changed."
  @type change_reason ::
          :initial | :probe_acked | :probe_failed | :black_hole | :fallback | :disabled

  @typedoc "How a Packet-Too-Big or EMSGSIZE hint was judged."
  @type verdict :: :accepted | :unmatched | :not_smaller | :below_floor | :not_probing

  @typedoc """
  One thing a call made happen. Sizes are in the handle's unit, the MTUs of
  hints in IP bytes.

    * `{:probe_due, size}` - a probe of this size is due: send a packet of it
    * `{:probe_acked, seq, size, rtt_ms}`, `{:probe_lost, seq, size, :timeout | :dup_ack | :resent}`
      (a lost probe is never congestion)
    * `{:mtu_changed, old, new, reason}` - segment with `new` from now on
    * `{:search_started, limit}`, `{:search_complete, size}`
    * `{:fallback, size, next_search_in_ms}` - probing failed even at the PLPMTU
    * `{:black_hole_suspected, size}` - the PLPMTU is the floor while a probe
      of `size` checks it (its ack restores `size`), `{:black_hole_confirmed, lost_size}`
    * `{:ptb, ip_mtu, verdict}`, `{:emsgsize, ip_mtu, verdict}` - a hint and its verdict
  """
  @type event ::
          {:probe_due, size()}
          | {:probe_acked, seq(), size(), rtt_ms :: non_neg_integer()}
          | {:probe_lost, seq(), size(), :timeout | :dup_ack | :resent}
          | {:mtu_changed, old :: size(), new :: size(), change_reason()}
          | {:search_started, limit :: size()}
          | {:search_complete, size()}
          | {:fallback, size(), next_search_in_ms :: non_neg_integer()}
          | {:black_hole_suspected, size()}
          | {:black_hole_confirmed, lost :: size()}
          | {:ptb | :emsgsize, ip_mtu(), verdict()}

  @typedoc "Why a configuration was refused."
  @type config_error :: {:invalid_config, atom(), String.t()}

  @doc "Milliseconds since the VM started, from the monotonic clock."
  @spec now_ms() :: time_ms()
  defdelegate now_ms, to: :plpmtud

  @doc """
  A new prober for one path, idle until `connected/2`.

  `options` (a keyword list or a map) are merged over the `:plpmtud`
  application environment; see `PLPMTUD.Config` for the keys. Unknown keys,
  values of the wrong kind, out of range or inconsistent return
  `{:error, {:invalid_config, key, message}}`.
  """
  @spec new([{atom(), term()}] | map()) ::
          {:ok, t()} | {:error, config_error() | :plpmtud_nif.load_error()}
  defdelegate new(options \\ []), to: :plpmtud

  @doc "`options` over the application environment (see `:plpmtud.config/1`)."
  @spec config(map()) :: {:ok, map()} | {:error, config_error()}
  defdelegate config(options), to: :plpmtud

  @doc "The connection is up: discovery starts. Repeated calls are ignored (`[]`)."
  @spec connected(t(), time_ms()) :: [event()]
  defdelegate connected(prober, now \\ now_ms()), to: :plpmtud

  @doc """
  `connected/2` with options: `%{hint: size}` for a destination whose size
  is known (see `PLPMTUD.Cache`: the first and, if acknowledged, only probe),
  `%{socket: gen_udp_socket}` to refuse discovery (`{:error, {:no_df,
  policy}}`) on a socket that does not set Don't-Fragment.
  """
  @spec connected(t(), time_ms(), :plpmtud.connect_opts()) ::
          [event()] | {:error, {:no_df, :plpmtud.df_policy()} | term()}
  defdelegate connected(prober, now, options), to: :plpmtud

  @doc "The size to segment data with now (the PLPMTU in the handle's unit)."
  @spec packet_size(t()) :: size()
  defdelegate packet_size(prober), to: :plpmtud

  @doc "The size the next probe must have, or `nil` when no probe is due."
  @spec probe_size(t()) :: size() | nil
  defdelegate probe_size(prober), to: :plpmtud

  @doc "The size of a packet at the floor, which every path is taken to carry."
  @spec base_size(t()) :: size()
  defdelegate base_size(prober), to: :plpmtud

  @doc """
  Padding that makes a data packet of `data` the due probe (after the
  `:padding_overhead` of its header), or `nil` when no probe is due or the
  data does not fit under it.
  """
  @spec probe_padding(t(), size()) :: size() | nil
  defdelegate probe_padding(prober, data), to: :plpmtud

  @doc """
  Packet `seq` of `size` is being sent: `:probe` if it became the probe (a
  probe of exactly that size was due), else `:normal`. Call it for every
  transmission, resends included (a probe's number sent again can no longer
  confirm it).
  """
  @spec on_send(t(), seq(), size(), time_ms()) :: :probe | :normal
  defdelegate on_send(prober, seq, size, now \\ now_ms()), to: :plpmtud

  @doc """
  `on_send/4` with `quote`, the start of the packet's UDP payload as sent:
  a Packet-Too-Big for the probe is then believed only when it quotes those
  bytes (`on_ptb/4` with the quoted binary), for transports whose sequence
  numbers an off-path attacker can guess.
  """
  @spec on_send(t(), seq(), size(), binary(), time_ms()) :: :probe | :normal
  defdelegate on_send(prober, seq, size, quote, now), to: :plpmtud

  @doc """
  Packet `seq` was acknowledged; `size` is its last transmission's. A probe
  acknowledged at its own size and never sent again raises the PLPMTU; any
  other packet is data (black-hole detection).
  """
  @spec on_ack(t(), seq(), size(), time_ms()) :: [event()]
  defdelegate on_ack(prober, seq, size, now \\ now_ms()), to: :plpmtud

  @doc """
  Packets lost together, each `{seq, size}` or a bare `seq`, by `:timeout`,
  `:dup_ack` or `:sack` (= `:dup_ack`): `{probe_seqs, events}`. Keep the
  probes among them out of congestion control (probe loss is not
  congestion, RFC 8899).
  """
  @spec on_lost(t(), [{seq(), size()} | seq()], :timeout | :dup_ack | :sack, time_ms()) ::
          {[seq()], [event()]}
  defdelegate on_lost(prober, losses, reason, now \\ now_ms()), to: :plpmtud

  @doc """
  An ICMP Packet-Too-Big reporting `ip_mtu`, quoting `quote`: the quoted
  UDP payload (a binary, matched against the quotes of `on_send/5`), a
  probe's `seq`, or `nil` when it quotes none of ours. The answer starts
  with `{:ptb, ip_mtu, verdict}`.
  """
  @spec on_ptb(t(), ip_mtu(), seq() | binary() | nil, time_ms()) :: [event()]
  defdelegate on_ptb(prober, ip_mtu, quote, now \\ now_ms()), to: :plpmtud

  @doc """
  A send of `size` was refused with EMSGSIZE. `reason` is `{:emsgsize,
  kernel_ip_mtu}` (what `PLPMTUD.Socket` returns; `nil` if unknown, and
  `target` unused), or `:emsgsize` with `target` the gen_udp socket (or
  `{socket, {ip, port}}`) to read the kernel's MTU from. The answer starts
  with `{:emsgsize, limit, verdict}`.
  """
  @spec on_send_refused(t(), term(), :emsgsize | {:emsgsize, ip_mtu() | nil}, size(), time_ms()) ::
          [event()]
  defdelegate on_send_refused(prober, target, reason, size, now \\ now_ms()), to: :plpmtud

  @doc "An RTT sample in milliseconds (the probe timeout follows RFC 6298)."
  @spec on_rtt(t(), non_neg_integer()) :: :ok
  defdelegate on_rtt(prober, rtt_ms), to: :plpmtud

  @doc "Runs the timers due at `now`: probe timeouts and the next search."
  @spec on_tick(t(), time_ms()) :: [event()]
  defdelegate on_tick(prober, now \\ now_ms()), to: :plpmtud

  @doc "When `on_tick/2` must next run, or `nil`."
  @spec deadline(t()) :: time_ms() | nil
  defdelegate deadline(prober), to: :plpmtud

  @doc "Turns discovery on (a fresh search) or off (the fixed `:disabled_mtu`)."
  @spec set_enabled(t(), boolean(), time_ms()) :: [event()]
  defdelegate set_enabled(prober, enabled, now \\ now_ms()), to: :plpmtud

  @doc "Starts a search now; `[]` if disabled, not connected or already searching."
  @spec probe_now(t(), time_ms()) :: [event()]
  defdelegate probe_now(prober, now \\ now_ms()), to: :plpmtud

  @doc """
  The prober's snapshot in one atomic call: state, sizes (in the handle's
  unit and in IP bytes), search range, probe timeout, probes in flight,
  `stats`, `history`, configuration and `invariants` (`:ok` or `{:error,
  broken}`: a failure is a bug to report).
  """
  @spec info(t()) :: %{atom() => term()}
  defdelegate info(prober), to: :plpmtud

  @doc "The version of the Rust engine the NIF was built with, e.g. `\"0.1.0\"`."
  @spec core_version() :: String.t()
  defdelegate core_version, to: :plpmtud_nif
end
