%%% @doc The plpmtud NIF library (`native/plpmtud_nif', a Rust cdylib), for
%%% Erlang and Elixir alike: the native functions of plpmtud, loaded from
%%% `priv/native/plpmtud_nif.so' of the `plpmtud' application.
%%%
%%% Internal: use the {@link plpmtud} facade (Erlang) or `PLPMTUD' (Elixir).
%%% The functions below {@link status/0} are stubs that the library replaces
%%% when it loads; keep their names and arities in sync with the
%%% `#[rustler::nif]' functions of the crate (loading fails with the missing
%%% one named otherwise).
%%%
%%% Loading the library never stops this module from loading: when it fails
%%% (the library was not built, or was built for another system), the reason
%%% is kept and {@link status/0} returns it; every stub then raises
%%% `erlang:nif_error({nif_not_loaded, PathTried, Reason})', and one
%%% `logger:warning' names the file tried and the reason (logged while the
%%% module loads; in a release booting in embedded mode, the logger keeps it
%%% until its handlers start). Needs no Elixir.
-module(plpmtud_nif).

-export([status/0]).

%% NIF stubs (see the module documentation).
-export([core_version/0, config_keys/0, config_table_entries/0, prober_new/1,
         prober_connected/3, prober_size/2, prober_padding_for/2, prober_sent/5,
         prober_acked/4, prober_lost/4, prober_ptb/4, prober_send_refused/4,
         prober_rtt/2, prober_tick/2, prober_deadline/1, prober_set_enabled/3,
         prober_probe_now/2, prober_snapshot/1,
         cache_new/2, cache_lookup/3, cache_record/5, cache_remove/2,
         cache_snapshot/2, reassembler_new/3,
         reassembler_push/3, reassembler_join/1, reassembler_stats/1, overhead_of/1, standard_mtus/0,
         socket_open/12, socket_start/2, socket_ready/2, rate_limiter_new/2, rate_limiter_allow/3,
         wire_probe/3, wire_ack/2, wire_parse/1, socket_attach/3, socket_send/4, socket_recv/2, socket_setopt/3,
         socket_info/2, socket_controlling_process/2, socket_close/1]).

-on_load(load/0).

-define(STATUS_KEY, {?MODULE, status}).

-type load_error() :: {nif_not_loaded, PathTried :: file:filename() | undefined,
                       Reason :: term()}.
-export_type([load_error/0]).

%% @doc Whether the NIF library is loaded: `ok', or
%% `{error, {nif_not_loaded, PathTried, Reason}}' with the library file that
%% was tried (`undefined' if the `plpmtud' application's directory could not
%% be found) and the reason `erlang:load_nif/2' gave.
-spec status() -> ok | {error, load_error()}.
status() ->
    persistent_term:get(?STATUS_KEY, {error, {nif_not_loaded, undefined, not_attempted}}).

%% Runs when the module is loaded; always returns ok so that the module loads
%% (and status/0 can tell why) even without its library.
-spec load() -> ok.
load() ->
    Status = case library_path() of
        {ok, Path} ->
            %% Drop old code of this module first: the library has no
            %% upgrade callback, so loading it while old code still holds it
            %% fails with {error, {upgrade, _}} (on a reload).
            _ = code:purge(?MODULE),
            case erlang:load_nif(Path, 0) of
                ok -> ok;
                {error, Reason} -> {error, {nif_not_loaded, Path ++ ".so", Reason}}
            end;
        {error, Reason} ->
            {error, {nif_not_loaded, undefined, Reason}}
    end,
    persistent_term:put(?STATUS_KEY, Status),
    warn(Status).

%% Says why the library did not load: discovery is off without it.
-spec warn(ok | {error, load_error()}) -> ok.
warn(ok) ->
    ok;
warn({error, {nif_not_loaded, Path, Reason}}) ->
    Where = case Path of
        undefined -> "(no plpmtud application directory)";
        _ -> Path
    end,
    Format = "plpmtud: NIF library ~ts not loaded: ~0p. Path MTU discovery is off "
        "(plpmtud:new/1 returns {error, {nif_not_loaded, ...}}). Rebuild plpmtud: "
        "scripts/build-nif installs a prebuilt library or builds one with cargo.",
    %% Never let logging stop the module from loading.
    try logger:warning(Format, [Where, Reason], #{mfa => {?MODULE, load, 0}})
    catch _:_ -> ok
    end.

%% The library, without its extension (as erlang:load_nif/2 takes it), in
%% priv/native/ of the plpmtud application; when the application is not
%% known to the code server (its ebin is not in a directory named plpmtud),
%% beside the ebin this module was loaded from.
-spec library_path() -> {ok, string()} | {error, term()}.
library_path() ->
    case code:priv_dir(plpmtud) of
        Priv when is_list(Priv) ->
            {ok, filename:absname(filename:join([Priv, "native", "plpmtud_nif"]))};
        {error, _} ->
            case code:which(?MODULE) of
                Beam when is_list(Beam) ->
                    App = filename:dirname(filename:dirname(filename:absname(Beam))),
                    {ok, filename:join([App, "priv", "native", "plpmtud_nif"])};
                Other ->
                    {error, {no_priv_dir, plpmtud, Other}}
            end
    end.

%% Why a stub runs: every stub calls erlang:nif_error/1 itself (rather than
%% through a helper), which Dialyzer knows stands for the NIF's result.
-spec not_loaded_reason() -> load_error() | nif_not_loaded.
not_loaded_reason() ->
    case status() of
        {error, Error} -> Error;
        ok -> nif_not_loaded
    end.

%% @doc The configuration keys the core accepts, from its table.
-spec config_keys() -> [atom()].
config_keys() ->
    %% Read once from the table (its docs included) and kept: plpmtud:new/1
    %% checks every connection's options against it.
    case persistent_term:get({?MODULE, config_keys}, undefined) of
        undefined ->
            Keys = [Key || {Key, _Kind, _Default, _Range, _Doc} <- config_table_entries()],
            persistent_term:put({?MODULE, config_keys}, Keys),
            Keys;
        Keys ->
            Keys
    end.

%% NIF stubs, replaced by the library when it loads.
core_version() -> erlang:nif_error(not_loaded_reason()).
config_table_entries() -> erlang:nif_error(not_loaded_reason()).
prober_new(_Config) -> erlang:nif_error(not_loaded_reason()).
prober_connected(_Prober, _Now, _Hint) -> erlang:nif_error(not_loaded_reason()).
prober_size(_Prober, _Which) -> erlang:nif_error(not_loaded_reason()).
prober_padding_for(_Prober, _Data) -> erlang:nif_error(not_loaded_reason()).
prober_sent(_Prober, _Now, _Seq, _Size, _Quote) -> erlang:nif_error(not_loaded_reason()).
prober_acked(_Prober, _Now, _Seq, _Size) -> erlang:nif_error(not_loaded_reason()).
prober_lost(_Prober, _Now, _Reason, _Losses) -> erlang:nif_error(not_loaded_reason()).
prober_ptb(_Prober, _Now, _IpMtu, _Quote) -> erlang:nif_error(not_loaded_reason()).
prober_send_refused(_Prober, _Now, _Size, _KernelIpMtu) -> erlang:nif_error(not_loaded_reason()).
prober_rtt(_Prober, _RttMs) -> erlang:nif_error(not_loaded_reason()).
prober_tick(_Prober, _Now) -> erlang:nif_error(not_loaded_reason()).
prober_deadline(_Prober) -> erlang:nif_error(not_loaded_reason()).
prober_set_enabled(_Prober, _Now, _Enabled) -> erlang:nif_error(not_loaded_reason()).
prober_probe_now(_Prober, _Now) -> erlang:nif_error(not_loaded_reason()).
prober_snapshot(_Prober) -> erlang:nif_error(not_loaded_reason()).
cache_new(_Capacity, _Ttl) -> erlang:nif_error(not_loaded_reason()).
cache_lookup(_Cache, _Now, _Ip) -> erlang:nif_error(not_loaded_reason()).
cache_record(_Cache, _Now, _Ip, _Mtu, _Reason) -> erlang:nif_error(not_loaded_reason()).
cache_remove(_Cache, _Ip) -> erlang:nif_error(not_loaded_reason()).
cache_snapshot(_Cache, _Now) -> erlang:nif_error(not_loaded_reason()).
reassembler_new(_Messages, _Bytes, _Timeout) -> erlang:nif_error(not_loaded_reason()).
reassembler_push(_Reassembler, _Now, _Fragment) -> erlang:nif_error(not_loaded_reason()).
reassembler_join(_Job) -> erlang:nif_error(not_loaded_reason()).
reassembler_stats(_Reassembler) -> erlang:nif_error(not_loaded_reason()).
overhead_of(_Layers) -> erlang:nif_error(not_loaded_reason()).
standard_mtus() -> erlang:nif_error(not_loaded_reason()).
socket_open(_Ip, _Port, _Connect, _Df, _Active, _RecvErrors, _Reuse, _Netns, _Icmp, _Batch, _Recbuf, _Backlog) -> erlang:nif_error(not_loaded_reason()).
socket_start(_Socket, _Reader) -> erlang:nif_error(not_loaded_reason()).
socket_ready(_Socket, _Event) -> erlang:nif_error(not_loaded_reason()).
rate_limiter_new(_PerSecond, _Burst) -> erlang:nif_error(not_loaded_reason()).
rate_limiter_allow(_Limiter, _Now, _Ip) -> erlang:nif_error(not_loaded_reason()).
wire_probe(_Nonce, _IpSize, _PayloadLen) -> erlang:nif_error(not_loaded_reason()).
wire_ack(_Nonce, _ReceivedLen) -> erlang:nif_error(not_loaded_reason()).
wire_parse(_Datagram) -> erlang:nif_error(not_loaded_reason()).
socket_attach(_Fd, _Df, _RecvErrors) -> erlang:nif_error(not_loaded_reason()).
socket_send(_Target, _Dest, _Data, _Fragmentable) -> erlang:nif_error(not_loaded_reason()).
socket_recv(_Socket, _Op) -> erlang:nif_error(not_loaded_reason()).
socket_setopt(_Target, _Option, _Value) -> erlang:nif_error(not_loaded_reason()).
socket_info(_Target, _Item) -> erlang:nif_error(not_loaded_reason()).
socket_controlling_process(_Socket, _Pid) -> erlang:nif_error(not_loaded_reason()).
socket_close(_Socket) -> erlang:nif_error(not_loaded_reason()).
