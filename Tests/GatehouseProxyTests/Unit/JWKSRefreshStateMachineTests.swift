import NIOHTTP1
import Testing
@testable import GatehouseProxy

/// Tier 1: the JWKS refresh rules with time passed in; no network, no loop.
@Suite struct JWKSRefreshStateMachineTests {
    typealias Machine = JWKSRefreshStateMachine

    /// A machine whose start-up fetch succeeded at `t`.
    static func loaded(at t: Double = 1_000, maxAge: Double? = nil) -> Machine {
        var m = Machine(now: t)
        #expect(m.scheduledFetchDue(now: t) == .fetch)
        m.fetchSucceeded(now: t, maxAge: maxAge)
        return m
    }

    @Test func startFetchIsDueAtOnceAndNotDoubled() {
        var m = Machine(now: 0)
        #expect(m.nextScheduledFetchAt == 0)
        #expect(m.scheduledFetchDue(now: 0) == .fetch)
        #expect(m.fetchInFlight)
        #expect(m.scheduledFetchDue(now: 0.1) == nil)
        #expect(!m.everLoaded)
    }

    @Test func beforeAnyKeyUnknownKidJoinsTheStartFetchOrIs503() {
        var m = Machine(now: 0)
        _ = m.scheduledFetchDue(now: 0)
        #expect(m.unknownKid(now: 0.5) == .join)
        m.fetchFailed(now: 1)
        #expect(m.nextScheduledFetchAt == 1 + Machine.startupRetryInterval)
        #expect(m.unknownKid(now: 1) == .unavailable(retryAfter: 5))
        #expect(m.unknownKid(now: 3) == .unavailable(retryAfter: 3))
        #expect(m.unknownKid(now: 5.5) == .unavailable(retryAfter: 1))
        // Overdue still says at least 1 s.
        #expect(m.unknownKid(now: 60) == .unavailable(retryAfter: 1))
        #expect(m.retryAfterWhileUnloaded(now: 2) == 4)
        // Start-up retries do not consume the on-demand allowance.
        #expect(m.scheduledFetchDue(now: 6) == .fetch)
        m.fetchSucceeded(now: 6, maxAge: nil)
        #expect(m.everLoaded)
        #expect(m.unknownKid(now: 6.1) == .fetch)
    }

    @Test func startFetchDoesNotCountAgainstTheOnDemandLimit() {
        var m = Self.loaded(at: 100)
        #expect(m.unknownKid(now: 100.01) == .fetch)
    }

    @Test func unknownKidFetchesAtMostOncePer30Seconds() {
        var m = Self.loaded(at: 0)
        #expect(m.unknownKid(now: 10) == .fetch)
        #expect(m.unknownKid(now: 10.2) == .join)
        m.fetchSucceeded(now: 10.5, maxAge: nil)
        #expect(m.unknownKid(now: 11) == .rejectUnknownKid)
        #expect(m.unknownKid(now: 39.99) == .rejectUnknownKid)
        #expect(m.unknownKid(now: 40) == .fetch)
        m.fetchSucceeded(now: 40.1, maxAge: nil)
        #expect(m.unknownKid(now: 50) == .rejectUnknownKid)
    }

    @Test func failedRefetchMakesUnknownKid503UntilTheLimitEnds() {
        var m = Self.loaded(at: 0)
        #expect(m.unknownKid(now: 100) == .fetch)
        m.fetchFailed(now: 101)
        #expect(m.everLoaded)
        #expect(m.unknownKid(now: 101) == .unavailable(retryAfter: 29))
        #expect(m.unknownKid(now: 120) == .unavailable(retryAfter: 10))
        #expect(m.unknownKid(now: 129.5) == .unavailable(retryAfter: 1))
        #expect(m.unknownKid(now: 130) == .fetch)
        m.fetchSucceeded(now: 130.2, maxAge: nil)
        #expect(m.unknownKid(now: 131) == .rejectUnknownKid)
    }

    @Test func backgroundSuccessClearsAFailedRefetch() {
        var m = Self.loaded(at: 0)
        #expect(m.unknownKid(now: 100) == .fetch)
        m.fetchFailed(now: 100)
        #expect(m.scheduledFetchDue(now: 105) == .fetch)
        m.fetchSucceeded(now: 105, maxAge: nil)
        #expect(m.unknownKid(now: 110) == .rejectUnknownKid)
    }

    @Test func unknownKidDuringABackgroundFetchJoinsIt() {
        var m = Self.loaded(at: 0)
        #expect(m.scheduledFetchDue(now: 600) == .fetch)
        #expect(m.unknownKid(now: 600.1) == .join)
        m.fetchSucceeded(now: 600.2, maxAge: nil)
        // That joined fetch counts as the on-demand one.
        #expect(m.unknownKid(now: 610) == .rejectUnknownKid)
    }

    @Test func refreshIntervalHonoursMaxAgeWithinBounds() {
        #expect(Self.loaded(at: 0).nextScheduledFetchAt == Machine.defaultRefreshInterval)
        #expect(Machine.defaultRefreshInterval == 600)
        #expect(Self.loaded(at: 0, maxAge: 120).nextScheduledFetchAt == 120)
        #expect(Self.loaded(at: 50, maxAge: 3_600).nextScheduledFetchAt == 3_650)
        // Never hammer the issuer, never keep keys for more than a day.
        #expect(Self.loaded(at: 0, maxAge: 0).nextScheduledFetchAt == Machine.startupRetryInterval)
        #expect(Self.loaded(at: 0, maxAge: 1).nextScheduledFetchAt == 5)
        #expect(Self.loaded(at: 0, maxAge: 10_000_000).nextScheduledFetchAt == 86_400)
    }

    @Test func failedBackgroundRefreshRetriesIn30Seconds() {
        var m = Self.loaded(at: 0)
        #expect(m.scheduledFetchDue(now: 600) == .fetch)
        m.fetchFailed(now: 601)
        #expect(m.nextScheduledFetchAt == 631)
        #expect(m.everLoaded)
        // A background failure is not an on-demand one: an unknown kid may still refetch.
        #expect(m.unknownKid(now: 602) == .fetch)
    }

    @Test func maxAgeIsReadFromCacheControl() {
        func maxAge(_ values: [String]) -> Double? {
            JWKSProvider.maxAge(HTTPHeaders(values.map { ("Cache-Control", $0) }))
        }
        #expect(maxAge(["max-age=300"]) == 300)
        #expect(maxAge(["public, max-age=120, must-revalidate"]) == 120)
        #expect(maxAge(["public", "MAX-AGE=60"]) == 60)
        #expect(maxAge(["no-cache"]) == nil)
        #expect(maxAge([]) == nil)
        #expect(maxAge(["max-age=soon"]) == nil)
    }
}
