defmodule PLPMTUD.Telemetry do
  @moduledoc """
  `:telemetry` events, without a dependency on `:telemetry`.

  plpmtud does not depend on the `telemetry` package. When the `:telemetry`
  module is loaded at run time (your project depends on it), plpmtud calls
  `:telemetry.execute/3` for the events below; when it is not, nothing is
  emitted and nothing is paid beyond one `function_exported?/3` (the first
  miss also tries to load the module once, and remembers that it tried in
  `:persistent_term`). Attach handlers with `:telemetry.attach/4` as usual.

  ## Events

  The prober events' sizes are in the prober's unit (its `:size_unit`:
  payload bytes by default, IP bytes for an autonomous prober); the MTUs
  of Packet-Too-Big and EMSGSIZE are IP bytes.

    * `[:plpmtud, :prober, :mtu_changed]` - a prober's PLPMTU changed.
      * measurements: `%{mtu: new, previous_mtu: old}`
      * metadata: `%{prober: pid, peer: {ip, port} | nil, reason: reason}`,
        `reason` as in `t:PLPMTUD.change_reason/0` (`:probe_acked`,
        `:black_hole`, `:fallback`, ...)

    * `[:plpmtud, :prober, :search_complete]` - a search ended.
      * measurements: `%{mtu: mtu}`
      * metadata: `%{prober: pid, peer: {ip, port} | nil}`

    * `[:plpmtud, :prober, :black_hole]` - a black hole was confirmed:
      datagrams of `lost_mtu` stopped getting through.
      * measurements: `%{lost_mtu: lost_mtu}`
      * metadata: `%{prober: pid, peer: {ip, port} | nil}`

    * `[:plpmtud, :prober, :fallback]` - probing failed even at the PLPMTU;
      the prober fell back to `mtu` and searches again later.
      * measurements: `%{mtu: mtu, next_search_in_ms: ms}`
      * metadata: `%{prober: pid, peer: {ip, port} | nil}`

    * `[:plpmtud, :ptb, :rejected]` - an ICMP Packet-Too-Big that the
      prober did not take (spoofed, stale, out of range, ...).
      * measurements: `%{mtu: reported_mtu}`
      * metadata: `%{prober: pid, peer: {ip, port} | nil, verdict: verdict}`,
        `verdict` as in `t:PLPMTUD.verdict/0` (anything but `:accepted`)

    * `[:plpmtud, :socket, :emsgsize]` - the local kernel refused a send on
      a `PLPMTUD.Socket` as larger than its path MTU (`{:error, {:emsgsize,
      mtu}}`), the autonomous probers' refused probes included.
      * measurements: `%{mtu: mtu}` (the kernel's path MTU; absent when the
        kernel did not tell), `%{size: bytes}` (the refused datagram's
        payload; absent for a batch)
      * metadata: `%{socket: socket, dest: {ip, port} | nil}` (`nil`: the
        connected peer)

  The prober events come from `PLPMTUD.Prober` processes; a prober handle
  used directly (`PLPMTUD.new/1`) emits nothing: its caller gets every
  event as the answer of its calls.
  """

  @tried {__MODULE__, :load_tried}

  @typedoc "An event name."
  @type event :: [atom(), ...]

  @doc """
  Calls `:telemetry.execute(event, measurements, metadata)` when the
  `:telemetry` module is loaded; `:ok` either way.
  """
  @spec execute(event(), map(), map()) :: :ok
  def execute(event, measurements, metadata) do
    if available?() do
      # Through apply/3: no compile-time reference to an optional module.
      apply(:telemetry, :execute, [event, measurements, metadata])
    end

    :ok
  end

  @doc """
  True when `:telemetry.execute/3` can be called: the module is loaded, or
  (tried once per node) could be loaded.
  """
  @spec available?() :: boolean()
  def available? do
    function_exported?(:telemetry, :execute, 3) or
      (not :persistent_term.get(@tried, false) and load())
  end

  defp load do
    :persistent_term.put(@tried, true)
    Code.ensure_loaded?(:telemetry) and function_exported?(:telemetry, :execute, 3)
  end

  @doc """
  Emits the events above for a prober's `events` (a list of
  `t:PLPMTUD.event/0`), with `prober` and `peer` in the metadata.
  """
  @spec prober_events([PLPMTUD.event() | term()], pid(), term()) :: :ok
  def prober_events(events, prober, peer) do
    if available?() do
      Enum.each(events, &prober_event(&1, %{prober: prober, peer: peer}))
    end

    :ok
  end

  defp prober_event({:mtu_changed, old, new, reason}, meta),
    do:
      execute(
        [:plpmtud, :prober, :mtu_changed],
        %{mtu: new, previous_mtu: old},
        Map.put(meta, :reason, reason)
      )

  defp prober_event({:search_complete, mtu}, meta),
    do: execute([:plpmtud, :prober, :search_complete], %{mtu: mtu}, meta)

  defp prober_event({:black_hole_confirmed, lost}, meta),
    do: execute([:plpmtud, :prober, :black_hole], %{lost_mtu: lost}, meta)

  defp prober_event({:fallback, mtu, next_in_ms}, meta),
    do:
      execute(
        [:plpmtud, :prober, :fallback],
        %{mtu: mtu, next_search_in_ms: next_in_ms},
        meta
      )

  defp prober_event({:ptb, mtu, verdict}, meta) when verdict != :accepted,
    do: execute([:plpmtud, :ptb, :rejected], %{mtu: mtu}, Map.put(meta, :verdict, verdict))

  defp prober_event(_event, _meta), do: :ok

  @doc """
  Emits `[:plpmtud, :socket, :emsgsize]` when `result` (of a send of `size`
  bytes, `nil` for a batch) is an EMSGSIZE refusal; returns `result`.
  """
  @spec socket_result(result, term(), term(), non_neg_integer() | nil) :: result
        when result: term()
  def socket_result(result, socket, dest, size) do
    case result do
      {:error, {:emsgsize, mtu}} -> emsgsize(socket, dest, mtu, size)
      {:error, _sent, {:emsgsize, mtu}} -> emsgsize(socket, dest, mtu, size)
      _ -> :ok
    end

    result
  end

  defp emsgsize(socket, dest, mtu, size) do
    measurements =
      [mtu: mtu, size: size]
      |> Enum.reject(fn {_, value} -> is_nil(value) end)
      |> Map.new()

    execute([:plpmtud, :socket, :emsgsize], measurements, %{socket: socket, dest: dest})
  end
end
