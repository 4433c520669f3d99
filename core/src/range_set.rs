//! A bounded set of disjoint integer ranges.
