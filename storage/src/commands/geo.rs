//! GEO commands: GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH, GEOSEARCHSTORE, GEORADIUS,
//! GEORADIUS_RO, GEORADIUSBYMEMBER, GEORADIUSBYMEMBER_RO.
//!
//! A geo set is a sorted set whose scores are Redis's 52-bit geohashes: latitude bits (range
//! ±85.05112878, the Web Mercator limit) on the even positions and longitude bits (±180) on
//! the odd ones, 26 steps each. GEOADD is ZADD with those scores, so ZRANGE and friends see
//! the very scores Redis stores and a geo set moves between Redis and Flotilla unchanged.
//!
//! Searches follow Redis 7.2's geo.c step by step — the step estimate from the radius, the
//! nine boxes (centre and neighbours, the useless ones dropped, repeats skipped), each walked
//! in score order — so unsorted results and COUNT ANY come back in Redis's order. The math is
//! plain f64 (haversine with Redis's Earth radius); every replica runs the same code on the
//! same inputs, and nothing random is involved. Sorting is stable, where Redis's qsort is not:
//! points at exactly the same distance keep the order they were found in.

use bytes::Bytes;
use flotilla_protocol::Reply;

use crate::args::{is, parse_f64, parse_i64};
use crate::commands::zsets::{limits, read_zset, store_result, zadd_generic};
use crate::ctx::Ctx;
use crate::errors::{self, geo as gerr};
use crate::table::{CommandSpec, Flags, Handler, KeyFlags, KeySearch, KeyspaceFn};
use crate::zset::{ScoreRange, ZSet};

#[cfg(test)]
fn human_double(value: f64) -> String {
    flotilla_protocol::format_human_double(value)
}

const LONG_MIN: f64 = -180.0;
const LONG_MAX: f64 = 180.0;
const LAT_MIN: f64 = -85.05112878;
const LAT_MAX: f64 = 85.05112878;
const STEP_MAX: u8 = 26;
const EARTH_RADIUS_M: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const DEGREES_TO_RADIANS: f64 = std::f64::consts::PI / 180.0;

// ---------------------------------------------------------------------------------------------
// Geohash

#[derive(Clone, Copy, Debug, PartialEq)]
struct Hash {
    bits: u64,
    step: u8,
}

/// Redis's "no box" marker for a dropped neighbour.
const ZERO_HASH: Hash = Hash { bits: 0, step: 0 };

#[derive(Clone, Copy)]
struct Range {
    min: f64,
    max: f64,
}

const WGS84_LONG: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const WGS84_LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

struct Area {
    longitude: Range,
    latitude: Range,
}

/// Latitude bits on the even positions, longitude bits on the odd ones.
fn interleave(latitude: u32, longitude: u32) -> u64 {
    let mut bits = 0u64;
    for i in 0..32 {
        bits |= (((latitude >> i) & 1) as u64) << (2 * i);
        bits |= (((longitude >> i) & 1) as u64) << (2 * i + 1);
    }
    bits
}

/// (latitude, longitude) halves of interleaved bits.
fn deinterleave(bits: u64) -> (u32, u32) {
    let (mut latitude, mut longitude) = (0u32, 0u32);
    for i in 0..32 {
        latitude |= (((bits >> (2 * i)) & 1) as u32) << i;
        longitude |= (((bits >> (2 * i + 1)) & 1) as u32) << i;
    }
    (latitude, longitude)
}

fn encode(long_range: Range, lat_range: Range, longitude: f64, latitude: f64, step: u8) -> Option<Hash> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min || latitude > lat_range.max || longitude < long_range.min || longitude > long_range.max
    {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min) * scale;
    let long_offset = (longitude - long_range.min) / (long_range.max - long_range.min) * scale;
    Some(Hash {
        bits: interleave(lat_offset as u32, long_offset as u32),
        step,
    })
}

fn decode(long_range: Range, lat_range: Range, hash: Hash) -> Area {
    let (ilat, ilong) = deinterleave(hash.bits);
    let scale = (1u64 << hash.step) as f64;
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    Area {
        latitude: Range {
            min: lat_range.min + (ilat as f64 / scale) * lat_scale,
            max: lat_range.min + ((ilat.wrapping_add(1)) as f64 / scale) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (ilong as f64 / scale) * long_scale,
            max: long_range.min + ((ilong.wrapping_add(1)) as f64 / scale) * long_scale,
        },
    }
}

/// The centre of a box, clamped to the WGS84 limits: (longitude, latitude).
fn area_center(area: &Area) -> (f64, f64) {
    let longitude = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let latitude = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (longitude, latitude)
}

/// A sorted-set score read as a geohash: (longitude, latitude).
fn decode_score(score: f64) -> (f64, f64) {
    let hash = Hash {
        bits: score as u64,
        step: STEP_MAX,
    };
    area_center(&decode(WGS84_LONG, WGS84_LAT, hash))
}

/// The score GEOADD stores for a position (inside the limits).
fn score_of(longitude: f64, latitude: f64) -> f64 {
    let hash = encode(WGS84_LONG, WGS84_LAT, longitude, latitude, STEP_MAX).expect("position checked");
    align52(hash) as f64
}

fn align52(hash: Hash) -> u64 {
    hash.bits << (52 - hash.step as u32 * 2)
}

/// The 11-character standard geohash (latitude range ±90) GEOHASH replies with.
fn geohash_string(score: f64) -> Bytes {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (longitude, latitude) = decode_score(score);
    let standard_lat = Range { min: -90.0, max: 90.0 };
    let bits = encode(WGS84_LONG, standard_lat, longitude, latitude, STEP_MAX).map_or(0, |hash| hash.bits);
    let mut text = [0u8; 11];
    for (i, slot) in text.iter_mut().enumerate() {
        // 52 bits make ten characters; the eleventh is kept for compatibility, as zero.
        let index = if i == 10 { 0 } else { (bits >> (52 - (i + 1) * 5)) & 0x1f };
        *slot = ALPHABET[index as usize];
    }
    Bytes::copy_from_slice(&text)
}

// ---------------------------------------------------------------------------------------------
// Distances

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (lat2 * DEGREES_TO_RADIANS - lat1 * DEGREES_TO_RADIANS).abs()
}

/// Haversine great-circle distance in meters.
fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = lon1 * DEGREES_TO_RADIANS;
    let lon2r = lon2 * DEGREES_TO_RADIANS;
    let v = ((lon2r - lon1r) / 2.0).sin();
    // Same longitude: the latitude difference alone is the distance.
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = lat1 * DEGREES_TO_RADIANS;
    let lat2r = lat2 * DEGREES_TO_RADIANS;
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

// ---------------------------------------------------------------------------------------------
// Search areas

#[derive(Clone, Copy)]
enum Kind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// A search: centre (longitude, latitude), shape in the request's unit, meters per unit.
struct Shape {
    longitude: f64,
    latitude: f64,
    kind: Kind,
    to_meters: f64,
}

/// [min longitude, min latitude, max longitude, max latitude] around the shape.
fn bounding_box(shape: &Shape) -> [f64; 4] {
    let (half_height, half_width) = match shape.kind {
        Kind::Radius(radius) => (radius, radius),
        Kind::Box { width, height } => (height / 2.0, width / 2.0),
    };
    let height = shape.to_meters * half_height;
    let width = shape.to_meters * half_width;
    let lat_delta = (height / EARTH_RADIUS_M) / DEGREES_TO_RADIANS;
    let long_delta_top =
        (width / EARTH_RADIUS_M / ((shape.latitude + lat_delta) * DEGREES_TO_RADIANS).cos()) / DEGREES_TO_RADIANS;
    let long_delta_bottom =
        (width / EARTH_RADIUS_M / ((shape.latitude - lat_delta) * DEGREES_TO_RADIANS).cos()) / DEGREES_TO_RADIANS;
    // The hemispheres widen in opposite directions.
    let long_delta = if shape.latitude < 0.0 {
        long_delta_bottom
    } else {
        long_delta_top
    };
    [
        shape.longitude - long_delta,
        shape.latitude - lat_delta,
        shape.longitude + long_delta,
        shape.latitude + lat_delta,
    ]
}

fn estimate_steps(mut range_m: f64, latitude: f64) -> u8 {
    if range_m == 0.0 {
        return STEP_MAX;
    }
    let mut step: i32 = 1;
    while range_m < MERCATOR_MAX {
        range_m *= 2.0;
        step += 1;
    }
    step -= 2;
    // Wider boxes towards the poles.
    if !(-66.0..=66.0).contains(&latitude) {
        step -= 1;
        if !(-80.0..=80.0).contains(&latitude) {
            step -= 1;
        }
    }
    step.clamp(1, STEP_MAX as i32) as u8
}

fn move_x(hash: &mut Hash, east: bool) {
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> (64 - hash.step as u32 * 2);
    let x = if east {
        x.wrapping_add(zz + 1)
    } else {
        (x | zz).wrapping_sub(zz + 1)
    };
    hash.bits = (x & (0xaaaa_aaaa_aaaa_aaaau64 >> (64 - hash.step as u32 * 2))) | y;
}

fn move_y(hash: &mut Hash, north: bool) {
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - hash.step as u32 * 2);
    let y = if north {
        y.wrapping_add(zz + 1)
    } else {
        (y | zz).wrapping_sub(zz + 1)
    };
    hash.bits = x | (y & (0x5555_5555_5555_5555u64 >> (64 - hash.step as u32 * 2)));
}

/// The box moved by (dx, dy) boxes (each -1, 0 or 1).
fn neighbour(hash: Hash, dx: i8, dy: i8) -> Hash {
    let mut moved = hash;
    if dx != 0 {
        move_x(&mut moved, dx > 0);
    }
    if dy != 0 {
        move_y(&mut moved, dy > 0);
    }
    moved
}

/// The boxes to walk, in Redis's order: centre, N, S, E, W, NE, NW, SE, SW; a dropped one is
/// `ZERO_HASH`.
fn search_boxes(shape: &Shape) -> [Hash; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let radius_m = shape.to_meters
        * match shape.kind {
            Kind::Radius(radius) => radius,
            Kind::Box { width, height } => ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt(),
        };
    let mut steps = estimate_steps(radius_m, shape.latitude);
    let at = |steps| encode(WGS84_LONG, WGS84_LAT, shape.longitude, shape.latitude, steps).unwrap_or(ZERO_HASH);
    let mut hash = at(steps);
    // Near the edge of the centre box a neighbour can fall short of the search area: then
    // one step coarser.
    let north = decode(WGS84_LONG, WGS84_LAT, neighbour(hash, 0, 1));
    let south = decode(WGS84_LONG, WGS84_LAT, neighbour(hash, 0, -1));
    let east = decode(WGS84_LONG, WGS84_LAT, neighbour(hash, 1, 0));
    let west = decode(WGS84_LONG, WGS84_LAT, neighbour(hash, -1, 0));
    let decrease = north.latitude.max < max_lat
        || south.latitude.min > min_lat
        || east.longitude.max < max_lon
        || west.longitude.min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        hash = at(steps);
    }
    let area = decode(WGS84_LONG, WGS84_LAT, hash);
    // Order: centre, N, S, E, W, NE, NW, SE, SW.
    let mut boxes = [
        hash,
        neighbour(hash, 0, 1),
        neighbour(hash, 0, -1),
        neighbour(hash, 1, 0),
        neighbour(hash, -1, 0),
        neighbour(hash, 1, 1),
        neighbour(hash, -1, 1),
        neighbour(hash, 1, -1),
        neighbour(hash, -1, -1),
    ];
    // Drop the neighbours the search area cannot reach.
    if steps >= 2 {
        let mut drop = |indexes: [usize; 3]| indexes.iter().for_each(|&i| boxes[i] = ZERO_HASH);
        if area.latitude.min < min_lat {
            drop([2, 8, 7]);
        }
        if area.latitude.max > max_lat {
            drop([1, 5, 6]);
        }
        if area.longitude.min < min_lon {
            drop([4, 8, 6]);
        }
        if area.longitude.max > max_lon {
            drop([3, 7, 5]);
        }
    }
    boxes
}

struct Point {
    member: Bytes,
    longitude: f64,
    latitude: f64,
    /// Meters from the centre.
    distance_m: f64,
    score: f64,
}

/// The distance from the centre if the point at `score` is inside the shape.
fn within(shape: &Shape, longitude: f64, latitude: f64) -> Option<f64> {
    match shape.kind {
        Kind::Radius(radius) => {
            let d = distance(shape.longitude, shape.latitude, longitude, latitude);
            (d <= radius * shape.to_meters).then_some(d)
        }
        Kind::Box { width, height } => {
            // Latitude first: it is the cheaper test.
            if lat_distance(latitude, shape.latitude) > height * shape.to_meters / 2.0 {
                return None;
            }
            if distance(longitude, latitude, shape.longitude, latitude) > width * shape.to_meters / 2.0 {
                return None;
            }
            Some(distance(shape.longitude, shape.latitude, longitude, latitude))
        }
    }
}

/// Every member inside the shape, in Redis's order of discovery; stops once `limit` (COUNT
/// ANY, 0 = none) are found.
fn search(zset: &ZSet, shape: &Shape, limit: usize) -> Vec<Point> {
    let boxes = search_boxes(shape);
    let mut found = Vec::new();
    let mut last: Option<Hash> = None;
    for hash in boxes {
        if hash == ZERO_HASH {
            continue;
        }
        // Huge radii make neighbours repeat: skip a box equal to the one just walked.
        if last == Some(hash) {
            continue;
        }
        if limit > 0 && found.len() >= limit {
            break;
        }
        let min = align52(hash) as f64;
        let max = align52(Hash {
            bits: hash.bits + 1,
            step: hash.step,
        }) as f64;
        let range = ScoreRange {
            min,
            max,
            min_exclusive: false,
            max_exclusive: true,
        };
        let mut node = zset.first_in_score_range(&range);
        while let Some(id) = node {
            let (member, score) = zset.entry(id);
            if !range.lte_max(score) {
                break;
            }
            let (longitude, latitude) = decode_score(score);
            if let Some(distance_m) = within(shape, longitude, latitude) {
                found.push(Point {
                    member: member.to_bytes(),
                    longitude,
                    latitude,
                    distance_m,
                    score,
                });
                if limit > 0 && found.len() >= limit {
                    break;
                }
            }
            node = zset.next(id);
        }
        last = Some(hash);
    }
    found
}

// ---------------------------------------------------------------------------------------------
// Argument parsing and reply formats

/// Coordinates as Redis sends them: doubles in its "human" text (bulk strings in RESP2).
fn coordinates(longitude: f64, latitude: f64) -> Reply {
    Reply::Array(vec![Reply::HumanDouble(longitude), Reply::HumanDouble(latitude)])
}

/// A distance with four decimals, rounded as Redis 7.2's fixed-point formatter does.
fn distance_reply(value: f64) -> Reply {
    if value == 0.0 {
        return Reply::Bulk(Bytes::from_static(b"0.0000"));
    }
    let scaled = (value * 10000.0).round_ties_even() as i64;
    let sign = if scaled < 0 { "-" } else { "" };
    let magnitude = scaled.unsigned_abs();
    Reply::Bulk(Bytes::from(format!("{sign}{}.{:04}", magnitude / 10000, magnitude % 10000)))
}

fn parse_unit(arg: &[u8]) -> Result<f64, Reply> {
    if is(arg, "m") {
        Ok(1.0)
    } else if is(arg, "km") {
        Ok(1000.0)
    } else if is(arg, "ft") {
        Ok(0.3048)
    } else if is(arg, "mi") {
        Ok(1609.34)
    } else {
        Err(Reply::error(gerr::UNIT))
    }
}

/// A longitude, latitude pair inside Redis's limits.
fn parse_position(longitude: &[u8], latitude: &[u8]) -> Result<(f64, f64), Reply> {
    let longitude = parse_f64(longitude).ok_or_else(|| Reply::error(errors::NOT_FLOAT))?;
    let latitude = parse_f64(latitude).ok_or_else(|| Reply::error(errors::NOT_FLOAT))?;
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return Err(Reply::error_owned(format!(
            "ERR invalid longitude,latitude pair {longitude:.6},{latitude:.6}"
        )));
    }
    Ok((longitude, latitude))
}

/// `radius unit` → (radius, meters per unit).
fn parse_radius(radius: &[u8], unit: &[u8]) -> Result<(f64, f64), Reply> {
    let radius = parse_f64(radius).ok_or_else(|| Reply::error(gerr::NEED_RADIUS))?;
    if radius < 0.0 {
        return Err(Reply::error(gerr::RADIUS_NEGATIVE));
    }
    Ok((radius, parse_unit(unit)?))
}

/// `width height unit` → (width, height, meters per unit).
fn parse_box(width: &[u8], height: &[u8], unit: &[u8]) -> Result<(f64, f64, f64), Reply> {
    let width = parse_f64(width).ok_or_else(|| Reply::error(gerr::NEED_WIDTH))?;
    let height = parse_f64(height).ok_or_else(|| Reply::error(gerr::NEED_HEIGHT))?;
    if height < 0.0 || width < 0.0 {
        return Err(Reply::error(gerr::BOX_NEGATIVE));
    }
    Ok((width, height, parse_unit(unit)?))
}

// ---------------------------------------------------------------------------------------------
// GEOADD, GEOPOS, GEODIST, GEOHASH

/// GEOADD key [NX | XX] [CH] longitude latitude member [...]: ZADD with geohash scores.
fn geoadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut first = 2;
    let (mut nx, mut xx) = (false, false);
    while first < args.len() {
        let option = &args[first];
        if is(option, "nx") {
            nx = true;
        } else if is(option, "xx") {
            xx = true;
        } else if !is(option, "ch") {
            break;
        }
        first += 1;
    }
    if !(args.len() - first).is_multiple_of(3) || (nx && xx) {
        return Reply::error(errors::SYNTAX);
    }
    let mut zadd_args = Vec::with_capacity(2 + first - 2 + (args.len() - first) / 3 * 2);
    zadd_args.push(Bytes::from_static(b"zadd"));
    zadd_args.extend(args[1..first].iter().cloned());
    for triple in args[first..].chunks_exact(3) {
        let (longitude, latitude) = match parse_position(&triple[0], &triple[1]) {
            Ok(position) => position,
            Err(reply) => return reply,
        };
        let score = score_of(longitude, latitude) as u64;
        zadd_args.push(Bytes::from(score.to_string()));
        zadd_args.push(triple[2].clone());
    }
    zadd_generic(ctx, &zadd_args, false)
}

/// GEOPOS key [member ...]
fn geopos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let zset = match read_zset(ctx, &args[1]) {
        Ok(zset) => zset,
        Err(reply) => return reply,
    };
    Reply::Array(
        args[2..]
            .iter()
            .map(|member| match zset.and_then(|zset| zset.score(member)) {
                None => Reply::NilArray,
                Some(score) => {
                    let (longitude, latitude) = decode_score(score);
                    coordinates(longitude, latitude)
                }
            })
            .collect(),
    )
}

/// GEODIST key member1 member2 [M | KM | FT | MI]
fn geodist(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let to_meters = match args.len() {
        4 => 1.0,
        5 => match parse_unit(&args[4]) {
            Ok(to_meters) => to_meters,
            Err(reply) => return reply,
        },
        _ => return Reply::error(errors::SYNTAX),
    };
    let zset = match read_zset(ctx, &args[1]) {
        Ok(Some(zset)) => zset,
        Ok(None) => return Reply::Nil,
        Err(reply) => return reply,
    };
    match (zset.score(&args[2]), zset.score(&args[3])) {
        (Some(first), Some(second)) => {
            let (lon1, lat1) = decode_score(first);
            let (lon2, lat2) = decode_score(second);
            distance_reply(distance(lon1, lat1, lon2, lat2) / to_meters)
        }
        _ => Reply::Nil,
    }
}

/// GEOHASH key [member ...]
fn geohash(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let zset = match read_zset(ctx, &args[1]) {
        Ok(zset) => zset,
        Err(reply) => return reply,
    };
    Reply::Array(
        args[2..]
            .iter()
            .map(|member| match zset.and_then(|zset| zset.score(member)) {
                None => Reply::Nil,
                Some(score) => Reply::Bulk(geohash_string(score)),
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// GEOSEARCH, GEOSEARCHSTORE, GEORADIUS and friends (Redis's georadiusGeneric)

const RADIUS_COORDS: u8 = 1;
const RADIUS_MEMBER: u8 = 1 << 1;
const RADIUS_NOSTORE: u8 = 1 << 2;
const GEOSEARCH: u8 = 1 << 3;
const GEOSEARCHSTORE: u8 = 1 << 4;

#[derive(Clone, Copy, PartialEq)]
enum Sort {
    None,
    Ascending,
    Descending,
}

/// The position of `member` in the geo set, as the search centre.
fn member_position(zset: &ZSet, member: &[u8]) -> Result<(f64, f64), Reply> {
    zset.score(member)
        .map(decode_score)
        .ok_or_else(|| Reply::error(gerr::MEMBER_NOT_FOUND))
}

fn search_generic(ctx: &mut Ctx, args: &[Bytes], source_at: usize, flags: u8) -> Reply {
    let source = match read_zset(ctx, &args[source_at]) {
        Ok(zset) => zset,
        Err(reply) => return reply,
    };
    let mut store_key: Option<&Bytes> = None;
    let mut store_distance = false;
    let mut center: Option<(f64, f64)> = None;
    let mut kind: Option<Kind> = None;
    let mut to_meters = 1.0;
    let base;
    if flags & RADIUS_COORDS != 0 {
        base = 6;
        center = match parse_position(&args[2], &args[3]) {
            Ok(position) => Some(position),
            Err(reply) => return reply,
        };
        match parse_radius(&args[4], &args[5]) {
            Ok((radius, unit)) => {
                kind = Some(Kind::Radius(radius));
                to_meters = unit;
            }
            Err(reply) => return reply,
        }
    } else if flags & RADIUS_MEMBER != 0 {
        base = 5;
        // Without a source the member cannot be looked up; parsing goes on to pick the reply.
        if let Some(zset) = source {
            center = match member_position(zset, &args[2]) {
                Ok(position) => Some(position),
                Err(reply) => return reply,
            };
            match parse_radius(&args[3], &args[4]) {
                Ok((radius, unit)) => {
                    kind = Some(Kind::Radius(radius));
                    to_meters = unit;
                }
                Err(reply) => return reply,
            }
        }
    } else {
        base = if flags & GEOSEARCHSTORE != 0 { 3 } else { 2 };
        if flags & GEOSEARCHSTORE != 0 {
            store_key = Some(&args[1]);
        }
    }

    let (mut with_distance, mut with_hash, mut with_coordinates) = (false, false, false);
    let (mut from_member, mut from_position, mut by_radius, mut by_box) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let remaining = args.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let arg = &args[base + i];
        let geosearch = flags & GEOSEARCH != 0;
        if is(arg, "withdist") {
            with_distance = true;
        } else if is(arg, "withhash") {
            with_hash = true;
        } else if is(arg, "withcoord") {
            with_coordinates = true;
        } else if is(arg, "any") {
            any = true;
        } else if is(arg, "asc") {
            sort = Sort::Ascending;
        } else if is(arg, "desc") {
            sort = Sort::Descending;
        } else if is(arg, "count") && i + 1 < remaining {
            count = match parse_i64(&args[base + i + 1]) {
                Some(count) => count,
                None => return Reply::error(errors::NOT_INTEGER),
            };
            if count <= 0 {
                return Reply::error(gerr::COUNT_NOT_POSITIVE);
            }
            i += 1;
        } else if (is(arg, "store") || is(arg, "storedist"))
            && i + 1 < remaining
            && flags & RADIUS_NOSTORE == 0
            && !geosearch
        {
            store_key = Some(&args[base + i + 1]);
            store_distance = is(arg, "storedist");
            i += 1;
        } else if is(arg, "storedist") && geosearch && flags & GEOSEARCHSTORE != 0 {
            store_distance = true;
        } else if is(arg, "frommember") && i + 1 < remaining && geosearch && !from_position {
            if let Some(zset) = source {
                center = match member_position(zset, &args[base + i + 1]) {
                    Ok(position) => Some(position),
                    Err(reply) => return reply,
                };
            }
            from_member = true;
            i += 1;
        } else if is(arg, "fromlonlat") && i + 2 < remaining && geosearch && !from_member {
            center = match parse_position(&args[base + i + 1], &args[base + i + 2]) {
                Ok(position) => Some(position),
                Err(reply) => return reply,
            };
            from_position = true;
            i += 2;
        } else if is(arg, "byradius") && i + 2 < remaining && geosearch && !by_box {
            match parse_radius(&args[base + i + 1], &args[base + i + 2]) {
                Ok((radius, unit)) => {
                    kind = Some(Kind::Radius(radius));
                    to_meters = unit;
                }
                Err(reply) => return reply,
            }
            by_radius = true;
            i += 2;
        } else if is(arg, "bybox") && i + 3 < remaining && geosearch && !by_radius {
            match parse_box(&args[base + i + 1], &args[base + i + 2], &args[base + i + 3]) {
                Ok((width, height, unit)) => {
                    kind = Some(Kind::Box { width, height });
                    to_meters = unit;
                }
                Err(reply) => return reply,
            }
            by_box = true;
            i += 3;
        } else {
            return Reply::error(errors::SYNTAX);
        }
        i += 1;
    }

    let name = String::from_utf8_lossy(&args[0]);
    if store_key.is_some() && (with_distance || with_hash || with_coordinates) {
        return Reply::error(if flags & GEOSEARCHSTORE != 0 {
            gerr::GEOSEARCHSTORE_WITH
        } else {
            gerr::STORE_WITH
        });
    }
    if flags & GEOSEARCH != 0 && !(from_member || from_position) {
        return Reply::error_owned(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        ));
    }
    if flags & GEOSEARCH != 0 && !(by_radius || by_box) {
        return Reply::error_owned(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        ));
    }
    if any && count == 0 {
        return Reply::error(gerr::ANY_NEEDS_COUNT);
    }

    let (Some(zset), Some((longitude, latitude)), Some(kind)) = (source, center, kind) else {
        // No source set: an empty result.
        return match store_key {
            Some(destination) => {
                let now_ms = ctx.now_ms;
                if ctx.db().remove(destination, now_ms).is_some() {
                    ctx.notify(crate::ctx::class::GENERIC, "del", destination);
                }
                Reply::Int(0)
            }
            None => Reply::Array(Vec::new()),
        };
    };
    // COUNT without an order means the nearest ones.
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Ascending;
    }
    let shape = Shape {
        longitude,
        latitude,
        kind,
        to_meters,
    };
    let limit = if any { count as usize } else { 0 };
    let mut points = search(zset, &shape, limit);
    match sort {
        Sort::None => {}
        Sort::Ascending => points.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m)),
        Sort::Descending => points.sort_by(|a, b| b.distance_m.total_cmp(&a.distance_m)),
    }
    if count > 0 {
        points.truncate(count as usize);
    }

    let Some(destination) = store_key else {
        let options = with_distance as usize + with_hash as usize + with_coordinates as usize;
        return Reply::Array(
            points
                .into_iter()
                .map(|point| {
                    if options == 0 {
                        return Reply::Bulk(point.member);
                    }
                    let mut item = Vec::with_capacity(options + 1);
                    item.push(Reply::Bulk(point.member));
                    if with_distance {
                        item.push(distance_reply(point.distance_m / to_meters));
                    }
                    if with_hash {
                        item.push(Reply::Int(point.score as i64));
                    }
                    if with_coordinates {
                        item.push(coordinates(point.longitude, point.latitude));
                    }
                    Reply::Array(item)
                })
                .collect(),
        );
    };
    let limits = limits(ctx);
    let longest = points.iter().map(|point| point.member.len()).max().unwrap_or(0);
    let mut result = ZSet::with_hint(points.len(), longest, limits);
    for point in points {
        let score = if store_distance {
            point.distance_m / to_meters
        } else {
            point.score
        };
        result.insert_within(crate::value::stored(&point.member), score, limits);
    }
    let destination = destination.clone();
    let event = if flags & GEOSEARCH != 0 {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    store_result(ctx, &destination, result, event)
}

fn geosearch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_generic(ctx, args, 1, GEOSEARCH)
}

fn geosearchstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_generic(ctx, args, 2, GEOSEARCH | GEOSEARCHSTORE)
}

fn georadius(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_generic(ctx, args, 1, RADIUS_COORDS)
}

fn georadius_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_generic(ctx, args, 1, RADIUS_COORDS | RADIUS_NOSTORE)
}

fn georadiusbymember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_generic(ctx, args, 1, RADIUS_MEMBER)
}

fn georadiusbymember_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_generic(ctx, args, 1, RADIUS_MEMBER | RADIUS_NOSTORE)
}

/// GEORADIUS's key specs, as Redis 7.2 states them: the source, and a STORE and a STOREDIST
/// key searched from the first option (`start_from`: argument 6 for GEORADIUS, 5 for
/// GEORADIUSBYMEMBER). COMMAND GETKEYS reports both when both are given, as Redis does.
const fn radius_key_specs(start_from: i32) -> [(KeyFlags, KeySearch); 3] {
    [
        (KeyFlags::RO_ACCESS, KeySearch::Range { index: 1, last_key: 0, step: 1 }),
        (KeyFlags::OW_UPDATE, KeySearch::Keyword { keyword: "STORE", start_from }),
        (KeyFlags::OW_UPDATE, KeySearch::Keyword { keyword: "STOREDIST", start_from }),
    ]
}
const RADIUS_KEY_SPECS: [(KeyFlags, KeySearch); 3] = radius_key_specs(6);
const BYMEMBER_KEY_SPECS: [(KeyFlags, KeySearch); 3] = radius_key_specs(5);

const GEO_READ: Flags = Flags::READONLY;
const GEO_WRITE: Flags = Flags::WRITE.union(Flags::DENYOOM);

const fn one_key(name: &'static str, arity: i32, handler: KeyspaceFn) -> CommandSpec {
    CommandSpec {
        first_key: 1,
        last_key: 1,
        step: 1,
        group: "geo",
        since: "3.2.0",
        ..CommandSpec::base(name, arity, Handler::Keyspace(handler))
    }
}

const RADIUS_SYNTAX: &str = "key longitude latitude radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]";
const RADIUS_RO_SYNTAX: &str = "key longitude latitude radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC]";
const BYMEMBER_SYNTAX: &str = "key member radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]";
const BYMEMBER_RO_SYNTAX: &str = "key member radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC]";

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        flags: GEO_WRITE,
        acl: &["write", "geo", "slow"],
        summary: "Adds one or more members to a geospatial index. The key is created if it doesn't exist.",
        syntax: "key [NX | XX] [CH] longitude latitude member [longitude latitude member ...]",
        key_flags: &[KeyFlags::RW_UPDATE],
        ..one_key("geoadd", -5, geoadd)
    },
    CommandSpec {
        flags: GEO_READ,
        acl: &["read", "geo", "slow"],
        summary: "Returns the distance between two members of a geospatial index.",
        syntax: "key member1 member2 [M | KM | FT | MI]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("geodist", -4, geodist)
    },
    CommandSpec {
        flags: GEO_READ,
        acl: &["read", "geo", "slow"],
        summary: "Returns members from a geospatial index as geohash strings.",
        syntax: "key [member [member ...]]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("geohash", -2, geohash)
    },
    CommandSpec {
        flags: GEO_READ,
        acl: &["read", "geo", "slow"],
        summary: "Returns the longitude and latitude of members from a geospatial index.",
        syntax: "key [member [member ...]]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("geopos", -2, geopos)
    },
    CommandSpec {
        flags: GEO_WRITE.union(Flags::MOVABLE_KEYS),
        acl: &["write", "geo", "slow"],
        summary: "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.",
        syntax: RADIUS_SYNTAX,
        declared_key_specs: &RADIUS_KEY_SPECS,
        ..one_key("georadius", -6, georadius)
    },
    CommandSpec {
        flags: GEO_READ,
        acl: &["read", "geo", "slow"],
        since: "3.2.10",
        summary: "Returns members from a geospatial index that are within a distance from a coordinate.",
        syntax: RADIUS_RO_SYNTAX,
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("georadius_ro", -6, georadius_ro)
    },
    CommandSpec {
        flags: GEO_WRITE.union(Flags::MOVABLE_KEYS),
        acl: &["write", "geo", "slow"],
        summary: "Queries a geospatial index for members within a distance from a member, optionally stores the result.",
        syntax: BYMEMBER_SYNTAX,
        declared_key_specs: &BYMEMBER_KEY_SPECS,
        ..one_key("georadiusbymember", -5, georadiusbymember)
    },
    CommandSpec {
        flags: GEO_READ,
        acl: &["read", "geo", "slow"],
        since: "3.2.10",
        summary: "Returns members from a geospatial index that are within a distance from a member.",
        syntax: BYMEMBER_RO_SYNTAX,
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("georadiusbymember_ro", -5, georadiusbymember_ro)
    },
    CommandSpec {
        flags: GEO_READ,
        acl: &["read", "geo", "slow"],
        since: "6.2.0",
        summary: "Queries a geospatial index for members inside an area of a box or a circle.",
        syntax: "key <FROMMEMBER member | FROMLONLAT longitude latitude> <BYRADIUS radius <M | KM | FT | MI> | BYBOX width height <M | KM | FT | MI>> [ASC | DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]",
        key_flags: &[KeyFlags::RO_ACCESS],
        ..one_key("geosearch", -7, geosearch)
    },
    CommandSpec {
        flags: GEO_WRITE,
        last_key: 2,
        acl: &["write", "geo", "slow"],
        since: "6.2.0",
        summary: "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.",
        syntax: "destination source <FROMMEMBER member | FROMLONLAT longitude latitude> <BYRADIUS radius <M | KM | FT | MI> | BYBOX width height <M | KM | FT | MI>> [ASC | DESC] [COUNT count [ANY]] [STOREDIST]",
        key_flags: &[KeyFlags::OW_UPDATE, KeyFlags::RO_ACCESS],
        ..one_key("geosearchstore", -8, geosearchstore)
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, Harness};

    #[test]
    fn scores_and_positions_match_redis() {
        // GEOADD scores and GEOPOS replies of redis-server 7.0.15 for the same positions.
        assert_eq!(score_of(13.361389, 38.115556) as u64, 3479099956230698);
        assert_eq!(score_of(15.087269, 37.502669) as u64, 3479447370796909);
        let (longitude, latitude) = decode_score(3479099956230698.0);
        assert_eq!(human_double(longitude), "13.36138933897018433");
        assert_eq!(human_double(latitude), "38.11555639549629859");
        assert_eq!(&geohash_string(3479099956230698.0)[..], b"sqc8b49rny0");
        assert_eq!(&geohash_string(3479447370796909.0)[..], b"sqdtr74hyu0");
    }

    #[test]
    fn formats() {
        assert_eq!(human_double(0.0), "0");
        assert_eq!(human_double(-0.0), "0");
        assert_eq!(human_double(2.5), "2.5");
        assert_eq!(human_double(-12.75), "-12.75");
        assert_eq!(distance_reply(166274.15156960033), Reply::Bulk(Bytes::from_static(b"166274.1516")));
        assert_eq!(distance_reply(0.0), Reply::Bulk(Bytes::from_static(b"0.0000")));
        assert_eq!(distance_reply(0.00004), Reply::Bulk(Bytes::from_static(b"0.0000")));
    }

    fn sicily(t: &mut Harness) {
        assert_eq!(
            run(t, &["GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"]),
            ":2"
        );
    }

    #[test]
    fn redis_documentation_examples() {
        let mut t = Harness::new();
        sicily(&mut t);
        assert_eq!(run(&mut t, &["GEODIST", "Sicily", "Palermo", "Catania"]), "$166274.1516");
        assert_eq!(run(&mut t, &["GEODIST", "Sicily", "Palermo", "Catania", "km"]), "$166.2742");
        assert_eq!(run(&mut t, &["GEODIST", "Sicily", "Palermo", "Catania", "mi"]), "$103.3182");
        assert_eq!(run(&mut t, &["GEODIST", "Sicily", "Foo", "Bar"]), "nil");
        assert_eq!(
            run(&mut t, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST"]),
            "[[$Palermo, $190.4424], [$Catania, $56.4413]]"
        );
        assert_eq!(
            run(&mut t, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHCOORD"]),
            "[[$Palermo, [$13.36138933897018433, $38.11555639549629859]], [$Catania, [$15.08726745843887329, $37.50266842333162032]]]"
        );
        assert_eq!(
            run(&mut t, &["GEOHASH", "Sicily", "Palermo", "Catania", "x"]),
            "[$sqc8b49rny0, $sqdtr74hyu0, nil]"
        );
        assert_eq!(
            run(&mut t, &["GEOPOS", "Sicily", "Palermo", "NonExisting"]),
            "[[$13.36138933897018433, $38.11555639549629859], nil]"
        );
        run(&mut t, &["GEOADD", "Sicily", "12.758489", "38.788135", "edge1", "17.241510", "38.788135", "edge2"]);
        assert_eq!(
            run(&mut t, &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC"]),
            "[$Catania, $Palermo]"
        );
        assert_eq!(
            run(&mut t, &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "ASC", "WITHCOORD", "WITHDIST", "WITHHASH"]),
            "[[$Catania, $56.4413, :3479447370796909, [$15.08726745843887329, $37.50266842333162032]], \
             [$Palermo, $190.4424, :3479099956230698, [$13.36138933897018433, $38.11555639549629859]], \
             [$edge2, $279.7403, :3481342659049484, [$17.24151045083999634, $38.78813451624225195]], \
             [$edge1, $279.7405, :3479273021651468, [$12.7584877610206604, $38.78813451624225195]]]"
        );
        assert_eq!(
            run(&mut t, &["GEOSEARCHSTORE", "dst", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "STOREDIST"]),
            ":3"
        );
        assert_eq!(
            run(&mut t, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
            "[$Palermo, ,0, $edge1, ,91.40065860581427, $Catania, ,166.27415156960032]"
        );
    }

    #[test]
    fn errors_match_redis() {
        let mut t = Harness::new();
        sicily(&mut t);
        assert_eq!(
            run(&mut t, &["GEOADD", "k", "200", "100", "m"]),
            "-ERR invalid longitude,latitude pair 200.000000,100.000000"
        );
        assert_eq!(run(&mut t, &["GEOADD", "k", "x", "1", "m"]), "-ERR value is not a valid float");
        assert_eq!(run(&mut t, &["GEOADD", "k", "nx", "xx", "1", "1", "m"]), "-ERR syntax error");
        assert_eq!(run(&mut t, &["GEOADD", "k", "1", "1", "m", "2"]), "-ERR syntax error");
        assert_eq!(
            run(&mut t, &["GEODIST", "Sicily", "Palermo", "Catania", "yd"]),
            "-ERR unsupported unit provided. please use M, KM, FT, MI"
        );
        assert_eq!(
            run(&mut t, &["GEOSEARCH", "Sicily", "BYRADIUS", "1", "km", "ASC", "DESC"]),
            "-ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH"
        );
        assert_eq!(
            run(&mut t, &["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "ASC", "DESC"]),
            "-ERR exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH"
        );
        assert_eq!(
            run(&mut t, &["GEOSEARCH", "Sicily", "FROMMEMBER", "nobody", "BYRADIUS", "1", "km"]),
            "-ERR could not decode requested zset member"
        );
        assert_eq!(
            run(&mut t, &["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km", "ANY"]),
            "-ERR the ANY argument requires COUNT argument"
        );
        assert_eq!(
            run(&mut t, &["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYRADIUS", "-1", "km"]),
            "-ERR radius cannot be negative"
        );
        assert_eq!(
            run(&mut t, &["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYBOX", "1", "-1", "km"]),
            "-ERR height or width cannot be negative"
        );
        assert_eq!(
            run(&mut t, &["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km", "COUNT", "0"]),
            "-ERR COUNT must be > 0"
        );
        assert_eq!(
            run(&mut t, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "STORE", "x"]),
            "-ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        );
        assert_eq!(
            run(&mut t, &["GEOSEARCHSTORE", "d", "Sicily", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km", "WITHDIST"]),
            "-ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        );
        assert_eq!(
            run(&mut t, &["GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "STORE", "x"]),
            "-ERR syntax error"
        );
        assert_eq!(run(&mut t, &["GEOSEARCH", "missing", "FROMMEMBER", "x", "BYRADIUS", "1", "km"]), "[]");
        run(&mut t, &["SET", "s", "v"]);
        assert!(run(&mut t, &["GEOPOS", "s", "a"]).starts_with("-WRONGTYPE"));
    }

    #[test]
    fn radius_store_and_any() {
        let mut t = Harness::new();
        sicily(&mut t);
        assert_eq!(
            run(&mut t, &["GEORADIUSBYMEMBER", "Sicily", "Palermo", "200", "km", "STORE", "out"]),
            ":2"
        );
        assert_eq!(run(&mut t, &["ZRANGE", "out", "0", "-1"]), "[$Palermo, $Catania]");
        assert_eq!(
            run(&mut t, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "1", "ANY"]).matches('$').count(),
            1
        );
        assert_eq!(
            run(&mut t, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "1"]),
            "[$Catania]"
        );
        assert_eq!(run(&mut t, &["GEORADIUS", "missing", "15", "37", "200", "km", "STORE", "out"]), ":0");
        assert_eq!(run(&mut t, &["EXISTS", "out"]), ":0");
    }

    /// The STORE / STOREDIST keys are found by keyword from the first option on, so a member
    /// named "store" is no key; both are reported when both are given, as Redis 7.2 does.
    #[test]
    fn radius_keys_follow_the_keyword_specs() {
        let keys = |parts: &[&str]| {
            let args: Vec<Bytes> = parts.iter().map(|part| Bytes::copy_from_slice(part.as_bytes())).collect();
            crate::commands::lookup(parts[0].as_bytes()).expect("in the table").keys_and_flags(&args)
        };
        let (read, write) = (KeyFlags::RO_ACCESS, KeyFlags::OW_UPDATE);
        assert_eq!(keys(&["georadius", "k", "1", "2", "3", "km", "store", "d"]), vec![(1, read), (7, write)]);
        assert_eq!(keys(&["georadius", "k", "1", "2", "3", "km", "ASC"]), vec![(1, read)]);
        assert_eq!(keys(&["georadius", "k", "1", "2", "3", "km", "STORE"]), vec![(1, read)]);
        assert_eq!(
            keys(&["georadius", "k", "1", "2", "3", "km", "STOREDIST", "b", "STORE", "a"]),
            vec![(1, read), (9, write), (7, write)]
        );
        assert_eq!(keys(&["georadiusbymember", "k", "store", "3", "km", "STORE", "d"]), vec![(1, read), (6, write)]);
        let spec = crate::commands::lookup(b"georadiusbymember").expect("in the table");
        assert_eq!(spec.key_positions(&[Bytes::from("georadiusbymember"), Bytes::from("k")]), vec![1]);
        assert!(spec.movable_keys());
        assert_eq!(spec.key_specs()[2].1, KeySearch::Keyword { keyword: "STOREDIST", start_from: 5 });
    }
}
