defmodule PLPMTUD.Wire do
  @moduledoc """
  Probe datagrams on the wire, for both ways of probing a path:

    * `:udp` - plpmtud's own probe (magic, version, nonce, size, zero padding)
      to a `PLPMTUD.Responder`, answered by a 20-byte ack;
    * `:icmp` - an ICMP / ICMPv6 echo request padded to the probe size, on a
      ping socket, answered by any host that answers ping.

  Sizes here are IP bytes; the header overheads are explicit: IPv4 20, IPv6
  40, then UDP 8 or ICMP 8.
  """

  alias PLPMTUD.Native

  @typedoc "How probes travel."
  @type mode :: :udp | :icmp

  @typedoc "IP family."
  @type family :: :inet | :inet6

  @doc "Bytes of IP header for `family`."
  @spec ip_header(family()) :: 20 | 40
  def ip_header(:inet), do: 20
  def ip_header(:inet6), do: 40

  @doc """
  The datagram to hand to the socket for a probe of `ip_size` IP bytes named
  `id`. For `:udp` it is the UDP payload; for `:icmp` the echo message (the
  kernel fills in identifier and checksum; the sequence number is `id`'s low 16 bits).
  """
  @spec probe(mode(), family(), non_neg_integer(), pos_integer()) :: binary()
  def probe(:udp, family, id, ip_size) do
    Native.wire_probe(id, ip_size, max(ip_size - ip_header(family) - 8, 0))
  end

  def probe(:icmp, family, id, ip_size) do
    type = if family == :inet, do: 8, else: 128
    padding = max(ip_size - ip_header(family) - 8, 0)
    <<type, 0, 0::16, 0::16, id::16, 0::size(padding)-unit(8)>>
  end

  @doc """
  What a received datagram says: `{:ack, id, bytes_received}` for an answer
  to one of our probes (for `:icmp`, `id` is the 16-bit sequence number),
  or `{:ignored, reason}`.
  """
  @spec parse_reply(mode(), family(), binary()) ::
          {:ack, non_neg_integer(), non_neg_integer()} | {:ignored, atom()}
  def parse_reply(:udp, _family, data) do
    case Native.wire_parse(data) do
      {:ack, nonce, received} -> {:ack, nonce, received}
      {:probe, _, _} -> {:ignored, :not_an_ack}
      {:error, reason} -> {:ignored, reason}
    end
  end

  def parse_reply(:icmp, family, <<type, 0, _sum::16, _ident::16, seq::16, _::binary>> = data) do
    if type == reply_type(family),
      do: {:ack, seq, byte_size(data)},
      else: {:ignored, :not_an_echo_reply}
  end

  def parse_reply(:icmp, _family, _data), do: {:ignored, :too_short}

  defp reply_type(:inet), do: 0
  defp reply_type(:inet6), do: 129

  @doc """
  The probe id quoted at the start of one of our datagrams returned in an
  ICMP error (`quoted`), or `nil` when it is not one of ours.
  """
  @spec quoted_id(mode(), binary()) :: non_neg_integer() | nil
  def quoted_id(:udp, quoted) do
    case Native.wire_parse(binary_part(quoted, 0, min(byte_size(quoted), 20))) do
      {:probe, nonce, _size} -> nonce
      _ -> nil
    end
  end

  def quoted_id(:icmp, <<type, 0, _sum::16, _ident::16, seq::16, _::binary>>)
      when type in [8, 128],
      do: seq

  def quoted_id(:icmp, _quoted), do: nil
end
