defmodule PLPMTUD.Native do
  @moduledoc false
  # Bindings to the Rust NIF library `plpmtud_nif` (native/plpmtud_nif),
  # which Mix.Tasks.Compile.PlpmtudCargo (see mix.exs) copies to
  # priv/native/plpmtud_nif.so. Every function in the stubs section below is
  # replaced by its native implementation when the library loads.

  require Logger

  @on_load :load_nif

  @doc false
  def load_nif do
    # Drop any old version of this module first: the rustler library has no
    # `upgrade` callback, so loading it while old code still holds it fails
    # with {:error, {:upgrade, _}} (e.g. on recompile in IEx).
    :code.purge(__MODULE__)

    path = Path.join(:code.priv_dir(:plpmtud), "native/plpmtud_nif")

    case :erlang.load_nif(String.to_charlist(path), 0) do
      :ok ->
        :ok

      {:error, reason} = error ->
        Logger.error(
          "PLPMTUD.Native: failed to load NIF library #{path}.so: #{inspect(reason)}. " <>
            "Build it with `mix compile` (runs cargo; needs Rust) and check that it exists."
        )

        error
    end
  end

  # ---------------------------------------------------------------------------
  # NIF stubs. Each is replaced by the native implementation on load; keep
  # names and arities in sync with the #[rustler::nif] functions in
  # native/plpmtud_nif/src/lib.rs.
  # ---------------------------------------------------------------------------

  def core_version, do: :erlang.nif_error(:nif_not_loaded)
  def config_keys, do: :erlang.nif_error(:nif_not_loaded)
  def config_table_entries, do: :erlang.nif_error(:nif_not_loaded)
  def prober_new(_config), do: :erlang.nif_error(:nif_not_loaded)
  def prober_connected(_prober, _now), do: :erlang.nif_error(:nif_not_loaded)
  def prober_next_probe(_prober), do: :erlang.nif_error(:nif_not_loaded)
  def prober_probe_sent(_prober, _now, _id, _size), do: :erlang.nif_error(:nif_not_loaded)
  def prober_probe_acked(_prober, _now, _id), do: :erlang.nif_error(:nif_not_loaded)
  def prober_probe_lost(_prober, _now, _id, _reason), do: :erlang.nif_error(:nif_not_loaded)
  def prober_is_probe(_prober, _id), do: :erlang.nif_error(:nif_not_loaded)
  def prober_packet_acked(_prober, _now, _size), do: :erlang.nif_error(:nif_not_loaded)
  def prober_packet_lost(_prober, _now, _size), do: :erlang.nif_error(:nif_not_loaded)
  def prober_rtt_sample(_prober, _rtt), do: :erlang.nif_error(:nif_not_loaded)
  def prober_ptb(_prober, _now, _mtu, _quoted_probe), do: :erlang.nif_error(:nif_not_loaded)
  def prober_ptb_quoted(_prober, _now, _mtu, _id, _quoted), do: :erlang.nif_error(:nif_not_loaded)
  def prober_emsgsize(_prober, _now, _mtu), do: :erlang.nif_error(:nif_not_loaded)

  def prober_send_refused(_prober, _now, _refused, _kernel_mtu),
    do: :erlang.nif_error(:nif_not_loaded)

  def prober_on_send_refused(_prober, _now, _payload, _kernel_mtu),
    do: :erlang.nif_error(:nif_not_loaded)

  def prober_claim_probe(_prober, _now, _id, _size), do: :erlang.nif_error(:nif_not_loaded)

  def prober_claim_probe_quoted(_prober, _now, _id, _size, _payload),
    do: :erlang.nif_error(:nif_not_loaded)

  def prober_overhead(_prober), do: :erlang.nif_error(:nif_not_loaded)
  def prober_tick(_prober, _now), do: :erlang.nif_error(:nif_not_loaded)
  def prober_deadline(_prober), do: :erlang.nif_error(:nif_not_loaded)
  def prober_probe_timeout(_prober), do: :erlang.nif_error(:nif_not_loaded)
  def prober_probe_now(_prober, _now), do: :erlang.nif_error(:nif_not_loaded)
  def prober_set_enabled(_prober, _now, _enabled), do: :erlang.nif_error(:nif_not_loaded)
  def prober_next_probe_payload(_prober), do: :erlang.nif_error(:nif_not_loaded)
  def prober_on_send(_prober, _now, _seq, _payload), do: :erlang.nif_error(:nif_not_loaded)
  def prober_on_ack(_prober, _now, _seq, _payload), do: :erlang.nif_error(:nif_not_loaded)

  def prober_on_lost(_prober, _now, _seq, _reason, _payload),
    do: :erlang.nif_error(:nif_not_loaded)

  def prober_ip_for(_prober, _payload), do: :erlang.nif_error(:nif_not_loaded)
  def prober_padding_for(_prober, _data), do: :erlang.nif_error(:nif_not_loaded)

  def prober_on_lost_batch(_prober, _now, _reason, _losses),
    do: :erlang.nif_error(:nif_not_loaded)

  def prober_payload_for(_prober, _size), do: :erlang.nif_error(:nif_not_loaded)
  def prober_mtu(_prober), do: :erlang.nif_error(:nif_not_loaded)
  def prober_payload_size(_prober), do: :erlang.nif_error(:nif_not_loaded)
  def prober_state(_prober), do: :erlang.nif_error(:nif_not_loaded)
  def prober_stats(_prober), do: :erlang.nif_error(:nif_not_loaded)
  def prober_history(_prober), do: :erlang.nif_error(:nif_not_loaded)
  def prober_info(_prober), do: :erlang.nif_error(:nif_not_loaded)
  def prober_check(_prober), do: :erlang.nif_error(:nif_not_loaded)
  def prober_connected_hint(_prober, _now, _hint), do: :erlang.nif_error(:nif_not_loaded)
  def cache_new(_capacity, _ttl), do: :erlang.nif_error(:nif_not_loaded)
  def cache_lookup(_cache, _now, _ip), do: :erlang.nif_error(:nif_not_loaded)
  def cache_record(_cache, _now, _ip, _mtu, _reason), do: :erlang.nif_error(:nif_not_loaded)
  def cache_remove(_cache, _ip), do: :erlang.nif_error(:nif_not_loaded)
  def cache_group_mtu(_cache, _now, _ips), do: :erlang.nif_error(:nif_not_loaded)
  def cache_entries(_cache, _now), do: :erlang.nif_error(:nif_not_loaded)
  def cache_stats(_cache), do: :erlang.nif_error(:nif_not_loaded)
  def fragment_split(_message, _id, _max_datagram), do: :erlang.nif_error(:nif_not_loaded)
  def reassembler_new(_messages, _bytes, _timeout), do: :erlang.nif_error(:nif_not_loaded)
  def reassembler_push(_reassembler, _now, _fragment), do: :erlang.nif_error(:nif_not_loaded)
  def reassembler_stats(_reassembler), do: :erlang.nif_error(:nif_not_loaded)
  def overhead_of(_layers), do: :erlang.nif_error(:nif_not_loaded)
  def standard_mtus, do: :erlang.nif_error(:nif_not_loaded)
  def tcp_set_mss(_fd, _mss), do: :erlang.nif_error(:nif_not_loaded)

  def socket_open(_ip, _port, _connect, _df, _active, _recv_errors, _reuse, _netns, _icmp),
    do: :erlang.nif_error(:nif_not_loaded)

  def rate_limiter_new(_per_second, _burst), do: :erlang.nif_error(:nif_not_loaded)
  def rate_limiter_allow(_limiter, _now, _ip), do: :erlang.nif_error(:nif_not_loaded)
  def wire_probe(_nonce, _ip_size, _payload_len), do: :erlang.nif_error(:nif_not_loaded)
  def wire_ack(_nonce, _received_len), do: :erlang.nif_error(:nif_not_loaded)
  def wire_parse(_datagram), do: :erlang.nif_error(:nif_not_loaded)

  def socket_attach(_fd, _df, _recv_errors), do: :erlang.nif_error(:nif_not_loaded)
  def socket_send(_socket, _data), do: :erlang.nif_error(:nif_not_loaded)

  def socket_send_fragmentable(_socket, _data, _plpmtu),
    do: :erlang.nif_error(:nif_not_loaded)

  def socket_send_to(_socket, _ip, _port, _data), do: :erlang.nif_error(:nif_not_loaded)
  def socket_send_batch(_socket, _datagrams, _dest), do: :erlang.nif_error(:nif_not_loaded)
  def socket_recv(_socket, _timeout), do: :erlang.nif_error(:nif_not_loaded)
  def socket_set_active(_socket, _active), do: :erlang.nif_error(:nif_not_loaded)
  def socket_controlling_process(_socket, _pid), do: :erlang.nif_error(:nif_not_loaded)
  def socket_close(_socket), do: :erlang.nif_error(:nif_not_loaded)
  def socket_set_gso(_socket, _enabled), do: :erlang.nif_error(:nif_not_loaded)
  def socket_path_mtu(_socket), do: :erlang.nif_error(:nif_not_loaded)
  def socket_df(_socket), do: :erlang.nif_error(:nif_not_loaded)
  def socket_set_df(_socket, _df), do: :erlang.nif_error(:nif_not_loaded)
  def socket_sockname(_socket), do: :erlang.nif_error(:nif_not_loaded)
  def socket_peername(_socket), do: :erlang.nif_error(:nif_not_loaded)
  def socket_stats(_socket), do: :erlang.nif_error(:nif_not_loaded)

  # ---------------------------------------------------------------------------
  # End of NIF stubs.
  # ---------------------------------------------------------------------------
end
