/// One event the engine folds, decoded once into its typed payload: what `EngineState.evolve`
/// switches over, exhaustively. Every event type the engine reads has one case, and one entry in
/// `EngineEvent.decoders` (the only place that maps a type name to a payload type).
public enum EngineEvent: Sendable {
    case policyCompiled(PolicyCompiled)
    case desiredStateCompiled(DesiredStateCompiled)
    case applyRequested(ApplyRequested)
    /// `ApplySucceeded` and `ApplyFailed` share their payload.
    case applyFinished(ApplyFinished, succeeded: Bool)
    case stateFetched(StateFetched)
    case stateUnchanged(StateUnchanged)
    case decisionMade(DecisionMade)
    case decisionFailed(DecisionFailed)
    case approvalGranted(ApprovalGranted)
    case approvalRejected(ApprovalRejected)
    case alertFired(AlertFired)
    case alertResolved(AlertResolved)
    case paused(Paused)
    case resumed(Resumed)
    case releaseMarkedBad(ReleaseMarkedBad)
    case releaseRequested(ReleaseRequested)
    case rollbackRequested(RollbackRequested)
    case workerStarted(WorkerStarted)
    case leaseAcquired(LeaseAcquired)
    case instanceRemoved(InstanceRemoved)
    case instanceRemovalFinished(InstanceRemovalFinished)

    /// The typed payload of `event`: nil when the engine does not read its type; a failure, with
    /// the decoding error, when its payload does not read as that type. Uses (and fills) the
    /// event's decode cache, so a projection that reads the same payload does not decode it again.
    public static func decode(_ event: RecordedEvent) -> Result<EngineEvent, any Error>? {
        guard let decode = decoders[event.type] else { return nil }
        return Result { try decode(event) }
    }

    /// The event types the engine reads, each with how its payload becomes an `EngineEvent`.
    static let decoders: [String: @Sendable (RecordedEvent) throws -> EngineEvent] = [
        PolicyCompiled.eventType: { .policyCompiled(try $0.decode(PolicyCompiled.self)) },
        DesiredStateCompiled.eventType: { .desiredStateCompiled(try $0.decode(DesiredStateCompiled.self)) },
        ApplyRequested.eventType: { .applyRequested(try $0.decode(ApplyRequested.self)) },
        ApplyFinished.succeededType: { .applyFinished(try $0.decodePayload(as: ApplyFinished.self), succeeded: true) },
        ApplyFinished.failedType: { .applyFinished(try $0.decodePayload(as: ApplyFinished.self), succeeded: false) },
        StateFetched.eventType: { .stateFetched(try $0.decode(StateFetched.self)) },
        StateUnchanged.eventType: { .stateUnchanged(try $0.decode(StateUnchanged.self)) },
        DecisionMade.eventType: { .decisionMade(try $0.decode(DecisionMade.self)) },
        DecisionFailed.eventType: { .decisionFailed(try $0.decode(DecisionFailed.self)) },
        ApprovalGranted.eventType: { .approvalGranted(try $0.decode(ApprovalGranted.self)) },
        ApprovalRejected.eventType: { .approvalRejected(try $0.decode(ApprovalRejected.self)) },
        AlertFired.eventType: { .alertFired(try $0.decode(AlertFired.self)) },
        AlertResolved.eventType: { .alertResolved(try $0.decode(AlertResolved.self)) },
        Paused.eventType: { .paused(try $0.decode(Paused.self)) },
        Resumed.eventType: { .resumed(try $0.decode(Resumed.self)) },
        ReleaseMarkedBad.eventType: { .releaseMarkedBad(try $0.decode(ReleaseMarkedBad.self)) },
        ReleaseRequested.eventType: { .releaseRequested(try $0.decode(ReleaseRequested.self)) },
        RollbackRequested.eventType: { .rollbackRequested(try $0.decode(RollbackRequested.self)) },
        WorkerStarted.eventType: { .workerStarted(try $0.decode(WorkerStarted.self)) },
        LeaseAcquired.eventType: { .leaseAcquired(try $0.decode(LeaseAcquired.self)) },
        InstanceRemoved.eventType: { .instanceRemoved(try $0.decode(InstanceRemoved.self)) },
        InstanceRemovalFinished.eventType: { .instanceRemovalFinished(try $0.decode(InstanceRemovalFinished.self)) },
    ]
}
