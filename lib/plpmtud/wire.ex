defmodule PLPMTUD.Wire do
  @moduledoc """
  Probe datagrams on the wire, for both ways of probing a path:

    * `:udp` - plpmtud's own probe (magic, version, nonce, size, zero padding)
      to a `PLPMTUD.Responder`, answered by a 20-byte ack;
    * `:icmp` - an ICMP / ICMPv6 echo request padded to the probe size, on a
      ping socket, answered by any host that answers ping.

  The prober that asks for a probe converts its IP size to the payload the
  datagram carries (the size less the prober's `overhead`: its family's IP header and 8
  bytes of UDP or ICMP header): the one place sizes are converted.
  """

  alias :plpmtud_nif, as: Native

  @typedoc "How probes travel."
  @type mode :: :udp | :icmp

  @typedoc "IP family."
  @type family :: :inet | :inet6

  @typedoc "A probe's random 64-bit nonce: its id, echoed by answers and quoted by ICMP errors."
  @type nonce :: 0..0xFFFF_FFFF_FFFF_FFFF

  @doc "A fresh nonce from the VM's strong random source."
  @spec nonce() :: nonce()
  def nonce do
    <<nonce::64>> = :crypto.strong_rand_bytes(8)
    nonce
  end

  @doc """
  The datagram to hand to the socket for a probe of `ip_size` IP bytes
  carrying `nonce`, whose UDP payload (`:udp`) or echo data (`:icmp`) is
  `payload` bytes. For `:udp` it is the UDP payload; for `:icmp` the echo
  message (the kernel fills in identifier and checksum; the sequence number
  is `seq`'s low 16 bits and the nonce opens the echoed data).
  """
  @spec probe(mode(), family(), nonce(), {pos_integer(), non_neg_integer()}, non_neg_integer()) ::
          binary()
  def probe(mode, family, nonce, sizes, seq \\ 0)

  def probe(:udp, _family, nonce, {ip_size, payload}, _seq),
    do: Native.wire_probe(nonce, ip_size, payload)

  def probe(:icmp, family, nonce, {_ip_size, payload}, seq) do
    type = if family == :inet, do: 8, else: 128
    padding = max(payload - 8, 0)
    <<type, 0, 0::16, 0::16, rem(seq, 65_536)::16, nonce::64, 0::size(padding)-unit(8)>>
  end

  @doc """
  What a received datagram says: `{:ack, nonce, bytes_received}` for an
  answer to one of our probes, or `{:ignored, reason}`.
  """
  @spec parse_reply(mode(), family(), binary()) ::
          {:ack, nonce(), non_neg_integer()} | {:ignored, atom()}
  def parse_reply(:udp, _family, data) do
    case Native.wire_parse(data) do
      {:ack, nonce, received} -> {:ack, nonce, received}
      {:probe, _, _} -> {:ignored, :not_an_ack}
      {:error, reason} -> {:ignored, reason}
    end
  end

  def parse_reply(
        :icmp,
        family,
        <<type, 0, _sum::16, _ident::16, _seq::16, nonce::64, _::binary>> = data
      ) do
    if type == reply_type(family),
      do: {:ack, nonce, byte_size(data)},
      else: {:ignored, :not_an_echo_reply}
  end

  def parse_reply(:icmp, _family, _data), do: {:ignored, :too_short}

  defp reply_type(:inet), do: 0
  defp reply_type(:inet6), do: 129
end
