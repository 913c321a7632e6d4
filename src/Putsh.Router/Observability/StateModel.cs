using System.Text.Json;
using System.Text.Json.Serialization;

namespace Putsh.Router.Observability;

/// <summary><c>GET /api/routes</c> (docs/state-api.md): every route with connectors connected now.</summary>
/// <param name="Version">The shape's version: 1. Fields may be added within a version; none is removed or changes meaning.</param>
/// <param name="GeneratedAt">When the snapshot was taken.</param>
/// <param name="Draining">True once the router has begun to stop.</param>
/// <param name="Routes">By name.</param>
public sealed record RoutesState(int Version, DateTimeOffset GeneratedAt, bool Draining, IReadOnlyList<RouteState> Routes);

/// <summary>One route: its totals since the router started, and its connector instances.</summary>
/// <param name="Route">The route name (<c>*</c> for the catch-all).</param>
/// <param name="SocketsIdle">Sockets with no request on them.</param>
/// <param name="SocketsBusy">Sockets carrying at least one request.</param>
/// <param name="InFlight">Requests on the route's sockets now.</param>
/// <param name="Counters">Totals since the router started.</param>
/// <param name="Connectors">Connector instances with at least one socket open on the route.</param>
public sealed record RouteState(string Route, int SocketsIdle, int SocketsBusy, int InFlight, RouteTotals Counters, IReadOnlyList<ConnectorState> Connectors);

/// <summary>A route's totals since the router started; rates come from the difference of two snapshots.</summary>
/// <param name="Requests">Requests that chose the route, however they ended.</param>
/// <param name="Status1xx">Requests answered with a 1xx status.</param>
/// <param name="Status2xx">Requests answered with a 2xx status.</param>
/// <param name="Status3xx">Requests answered with a 3xx status.</param>
/// <param name="Status4xx">Requests answered with a 4xx status.</param>
/// <param name="Status5xx">Requests answered with a 5xx status, the router's own 502/503/504 included.</param>
/// <param name="RouterErrors">Requests the router failed itself (no socket, socket lost, timeout, aborted, client gone).</param>
/// <param name="DurationSecondsSum">The requests' durations added up: divided by <paramref name="Requests"/>, the mean.</param>
/// <param name="BytesReceived">Request body bytes from clients.</param>
/// <param name="BytesSent">Response body bytes to clients.</param>
public sealed record RouteTotals(long Requests, long Status1xx, long Status2xx, long Status3xx, long Status4xx, long Status5xx, long RouterErrors, double DurationSecondsSum, long BytesReceived, long BytesSent);

/// <summary>One connector instance on one route.</summary>
/// <param name="InstanceId">The id all the instance's sockets share (its <c>connectorInstanceID</c>).</param>
/// <param name="ComponentName">The name it gave, if any.</param>
/// <param name="RemoteAddress">The address its sockets come from.</param>
/// <param name="Protocol"><c>cranker_1.0</c> or <c>cranker_3.0</c>.</param>
/// <param name="Domain">The domain its cranker_3.0 sockets serve (<c>*</c>: any).</param>
/// <param name="Route">The route.</param>
/// <param name="SocketsIdle">Sockets with no request on them.</param>
/// <param name="SocketsBusy">Sockets carrying at least one request.</param>
/// <param name="SocketsUnusable">Sockets no request is sent to now: draining, or silent past the pong timeout.</param>
/// <param name="InFlight">Requests on its sockets now.</param>
/// <param name="ConnectedSince">When its oldest open socket was accepted.</param>
/// <param name="Extensions">The putsh extensions agreed on its sockets.</param>
/// <param name="Sockets">Its sockets, in <c>GET /api/connectors/{instanceId}</c> only.</param>
public sealed record ConnectorState(
    string InstanceId,
    string? ComponentName,
    string RemoteAddress,
    string Protocol,
    string Domain,
    string Route,
    int SocketsIdle,
    int SocketsBusy,
    int SocketsUnusable,
    int InFlight,
    DateTimeOffset ConnectedSince,
    IReadOnlyList<string> Extensions,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<SocketState>? Sockets);

/// <summary>One connector socket.</summary>
/// <param name="Id">The router's id for it.</param>
/// <param name="Route">The route it serves.</param>
/// <param name="Protocol"><c>cranker_1.0</c> or <c>cranker_3.0</c>.</param>
/// <param name="State"><c>idle</c>, <c>busy</c> or <c>unusable</c>.</param>
/// <param name="InFlight">Requests on it now.</param>
/// <param name="ConnectedSince">When it was accepted.</param>
/// <param name="SilentForSeconds">Time since the connector last sent anything on it, pongs included.</param>
/// <param name="Extensions">The putsh extensions agreed on it.</param>
public sealed record SocketState(string Id, string Route, string Protocol, string State, int InFlight, DateTimeOffset ConnectedSince, double? SilentForSeconds, IReadOnlyList<string> Extensions);

/// <summary>An error answer of the state API.</summary>
/// <param name="Error">What went wrong, in a sentence.</param>
public sealed record StateError(string Error);

/// <summary><c>/api/dark-mode</c>: the connector instances and routes taken out of rotation, by name.</summary>
internal sealed record DarkModeState(IReadOnlyList<string> Instances, IReadOnlyList<string> Routes);

/// <summary>System.Text.Json metadata for the state API, generated at build time (trimming and Native AOT safe).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(RoutesState))]
[JsonSerializable(typeof(ConnectorState))]
[JsonSerializable(typeof(StateError))]
[JsonSerializable(typeof(DarkModeState))]
internal sealed partial class StateJsonContext : JsonSerializerContext;
