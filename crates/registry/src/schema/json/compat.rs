//! JSON Schema compatibility: Confluent's difference types (their names are
//! the `errorType` clients see), which of them are compatible, and their
//! descriptions.

use super::diff::{compare, At, Ctx, Difference};
use super::JsonSchema;
use crate::schema::Incompatibility;

/// The incompatibilities met when `reader` reads data valid under `writer`:
/// the diff from the writer to the reader, its incompatible differences.
pub fn check(
    reader: &JsonSchema,
    writer: &JsonSchema,
    reader_is_new: bool,
) -> Vec<Incompatibility> {
    let mut ctx = Ctx::new(writer, reader);
    compare(
        &mut ctx,
        At {
            doc: 0,
            v: writer.document(),
        },
        At {
            doc: 0,
            v: reader.document(),
        },
    );
    let (this, other) = if reader_is_new {
        ("new", "old")
    } else {
        ("old", "new")
    };
    let mut out: Vec<Incompatibility> = Vec::new();
    for Difference { kind, path } in ctx.diffs {
        if is_compatible(kind) {
            continue;
        }
        let i = Incompatibility {
            error_type: kind.name().to_string(),
            description: describe(kind, &path, this, other),
            additional_info: path,
        };
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

macro_rules! diff_types {
    ($($variant:ident = $name:literal,)*) => {
        /// Confluent's `Difference.Type`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum DiffType { $($variant,)* }

        impl DiffType {
            pub(crate) fn name(self) -> &'static str {
                match self { $(DiffType::$variant => $name,)* }
            }
        }
    };
}

diff_types! {
    IdChanged = "ID_CHANGED",
    DescriptionChanged = "DESCRIPTION_CHANGED",
    TitleChanged = "TITLE_CHANGED",
    DefaultChanged = "DEFAULT_CHANGED",
    SchemaAdded = "SCHEMA_ADDED",
    SchemaRemoved = "SCHEMA_REMOVED",
    TypeExtended = "TYPE_EXTENDED",
    TypeNarrowed = "TYPE_NARROWED",
    TypeChanged = "TYPE_CHANGED",
    MaxLengthAdded = "MAX_LENGTH_ADDED",
    MaxLengthRemoved = "MAX_LENGTH_REMOVED",
    MaxLengthIncreased = "MAX_LENGTH_INCREASED",
    MaxLengthDecreased = "MAX_LENGTH_DECREASED",
    MinLengthAdded = "MIN_LENGTH_ADDED",
    MinLengthRemoved = "MIN_LENGTH_REMOVED",
    MinLengthIncreased = "MIN_LENGTH_INCREASED",
    MinLengthDecreased = "MIN_LENGTH_DECREASED",
    PatternAdded = "PATTERN_ADDED",
    PatternRemoved = "PATTERN_REMOVED",
    PatternChanged = "PATTERN_CHANGED",
    MaximumAdded = "MAXIMUM_ADDED",
    MaximumRemoved = "MAXIMUM_REMOVED",
    MaximumIncreased = "MAXIMUM_INCREASED",
    MaximumDecreased = "MAXIMUM_DECREASED",
    MinimumAdded = "MINIMUM_ADDED",
    MinimumRemoved = "MINIMUM_REMOVED",
    MinimumIncreased = "MINIMUM_INCREASED",
    MinimumDecreased = "MINIMUM_DECREASED",
    ExclusiveMaximumAdded = "EXCLUSIVE_MAXIMUM_ADDED",
    ExclusiveMaximumRemoved = "EXCLUSIVE_MAXIMUM_REMOVED",
    ExclusiveMaximumIncreased = "EXCLUSIVE_MAXIMUM_INCREASED",
    ExclusiveMaximumDecreased = "EXCLUSIVE_MAXIMUM_DECREASED",
    ExclusiveMinimumAdded = "EXCLUSIVE_MINIMUM_ADDED",
    ExclusiveMinimumRemoved = "EXCLUSIVE_MINIMUM_REMOVED",
    ExclusiveMinimumIncreased = "EXCLUSIVE_MINIMUM_INCREASED",
    ExclusiveMinimumDecreased = "EXCLUSIVE_MINIMUM_DECREASED",
    MultipleOfAdded = "MULTIPLE_OF_ADDED",
    MultipleOfRemoved = "MULTIPLE_OF_REMOVED",
    MultipleOfExpanded = "MULTIPLE_OF_EXPANDED",
    MultipleOfReduced = "MULTIPLE_OF_REDUCED",
    MultipleOfChanged = "MULTIPLE_OF_CHANGED",
    RequiredAttributeAdded = "REQUIRED_ATTRIBUTE_ADDED",
    RequiredAttributeWithDefaultAdded = "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED",
    RequiredAttributeRemoved = "REQUIRED_ATTRIBUTE_REMOVED",
    MaxPropertiesAdded = "MAX_PROPERTIES_ADDED",
    MaxPropertiesRemoved = "MAX_PROPERTIES_REMOVED",
    MaxPropertiesIncreased = "MAX_PROPERTIES_INCREASED",
    MaxPropertiesDecreased = "MAX_PROPERTIES_DECREASED",
    MinPropertiesAdded = "MIN_PROPERTIES_ADDED",
    MinPropertiesRemoved = "MIN_PROPERTIES_REMOVED",
    MinPropertiesIncreased = "MIN_PROPERTIES_INCREASED",
    MinPropertiesDecreased = "MIN_PROPERTIES_DECREASED",
    AdditionalPropertiesAdded = "ADDITIONAL_PROPERTIES_ADDED",
    AdditionalPropertiesRemoved = "ADDITIONAL_PROPERTIES_REMOVED",
    AdditionalPropertiesExtended = "ADDITIONAL_PROPERTIES_EXTENDED",
    AdditionalPropertiesNarrowed = "ADDITIONAL_PROPERTIES_NARROWED",
    DependencyArrayAdded = "DEPENDENCY_ARRAY_ADDED",
    DependencyArrayRemoved = "DEPENDENCY_ARRAY_REMOVED",
    DependencyArrayExtended = "DEPENDENCY_ARRAY_EXTENDED",
    DependencyArrayNarrowed = "DEPENDENCY_ARRAY_NARROWED",
    DependencyArrayChanged = "DEPENDENCY_ARRAY_CHANGED",
    DependencySchemaAdded = "DEPENDENCY_SCHEMA_ADDED",
    DependencySchemaRemoved = "DEPENDENCY_SCHEMA_REMOVED",
    PropertyAddedToOpenContentModel = "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
    PropertyWithEmptySchemaAddedToOpenContentModel = "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
    RequiredPropertyAddedToUnopenContentModel = "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
    RequiredPropertyWithDefaultAddedToUnopenContentModel = "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL",
    OptionalPropertyAddedToUnopenContentModel = "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
    PropertyRemovedFromOpenContentModel = "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
    PropertyWithFalseRemovedFromClosedContentModel = "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    PropertyRemovedFromClosedContentModel = "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    PropertyRemovedIsCoveredByPartiallyOpenContentModel = "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    PropertyRemovedNotCoveredByPartiallyOpenContentModel = "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    PropertyAddedIsCoveredByPartiallyOpenContentModel = "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    PropertyAddedNotCoveredByPartiallyOpenContentModel = "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    MaxItemsAdded = "MAX_ITEMS_ADDED",
    MaxItemsRemoved = "MAX_ITEMS_REMOVED",
    MaxItemsIncreased = "MAX_ITEMS_INCREASED",
    MaxItemsDecreased = "MAX_ITEMS_DECREASED",
    MinItemsAdded = "MIN_ITEMS_ADDED",
    MinItemsRemoved = "MIN_ITEMS_REMOVED",
    MinItemsIncreased = "MIN_ITEMS_INCREASED",
    MinItemsDecreased = "MIN_ITEMS_DECREASED",
    UniqueItemsAdded = "UNIQUE_ITEMS_ADDED",
    UniqueItemsRemoved = "UNIQUE_ITEMS_REMOVED",
    AdditionalItemsAdded = "ADDITIONAL_ITEMS_ADDED",
    AdditionalItemsRemoved = "ADDITIONAL_ITEMS_REMOVED",
    AdditionalItemsExtended = "ADDITIONAL_ITEMS_EXTENDED",
    AdditionalItemsNarrowed = "ADDITIONAL_ITEMS_NARROWED",
    ItemAddedToOpenContentModel = "ITEM_ADDED_TO_OPEN_CONTENT_MODEL",
    ItemWithEmptySchemaAddedToOpenContentModel = "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
    ItemAddedToClosedContentModel = "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL",
    ItemRemovedFromOpenContentModel = "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL",
    ItemWithFalseRemovedFromClosedContentModel = "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    ItemRemovedFromClosedContentModel = "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    ItemRemovedIsCoveredByPartiallyOpenContentModel = "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    ItemRemovedNotCoveredByPartiallyOpenContentModel = "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    ItemAddedIsCoveredByPartiallyOpenContentModel = "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    ItemAddedNotCoveredByPartiallyOpenContentModel = "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    EnumArrayExtended = "ENUM_ARRAY_EXTENDED",
    EnumArrayNarrowed = "ENUM_ARRAY_NARROWED",
    EnumArrayChanged = "ENUM_ARRAY_CHANGED",
    CombinedTypeExtended = "COMBINED_TYPE_EXTENDED",
    CombinedTypeChanged = "COMBINED_TYPE_CHANGED",
    ProductTypeExtended = "PRODUCT_TYPE_EXTENDED",
    ProductTypeNarrowed = "PRODUCT_TYPE_NARROWED",
    SumTypeExtended = "SUM_TYPE_EXTENDED",
    SumTypeNarrowed = "SUM_TYPE_NARROWED",
    CombinedTypeSubschemasChanged = "COMBINED_TYPE_SUBSCHEMAS_CHANGED",
    NotTypeExtended = "NOT_TYPE_EXTENDED",
    NotTypeNarrowed = "NOT_TYPE_NARROWED",
}

/// Whether a difference leaves data valid under the original schema valid
/// under the update (Confluent's compatible changes).
pub(crate) fn is_compatible(t: DiffType) -> bool {
    use DiffType::*;
    matches!(
        t,
        IdChanged
            | DescriptionChanged
            | TitleChanged
            | DefaultChanged
            | SchemaRemoved
            | TypeExtended
            | MaxLengthIncreased
            | MaxLengthRemoved
            | MinLengthDecreased
            | MinLengthRemoved
            | PatternRemoved
            | MaximumIncreased
            | MaximumRemoved
            | MinimumDecreased
            | MinimumRemoved
            | ExclusiveMaximumIncreased
            | ExclusiveMaximumRemoved
            | ExclusiveMinimumDecreased
            | ExclusiveMinimumRemoved
            | MultipleOfReduced
            | MultipleOfRemoved
            | RequiredAttributeWithDefaultAdded
            | RequiredAttributeRemoved
            | DependencyArrayNarrowed
            | DependencyArrayRemoved
            | DependencySchemaRemoved
            | MaxPropertiesIncreased
            | MaxPropertiesRemoved
            | MinPropertiesDecreased
            | MinPropertiesRemoved
            | AdditionalPropertiesAdded
            | AdditionalPropertiesExtended
            | PropertyWithEmptySchemaAddedToOpenContentModel
            | RequiredPropertyWithDefaultAddedToUnopenContentModel
            | OptionalPropertyAddedToUnopenContentModel
            | PropertyWithFalseRemovedFromClosedContentModel
            | PropertyRemovedFromOpenContentModel
            | PropertyAddedIsCoveredByPartiallyOpenContentModel
            | PropertyRemovedIsCoveredByPartiallyOpenContentModel
            | MaxItemsIncreased
            | MaxItemsRemoved
            | MinItemsDecreased
            | MinItemsRemoved
            | UniqueItemsRemoved
            | AdditionalItemsAdded
            | AdditionalItemsExtended
            | ItemWithEmptySchemaAddedToOpenContentModel
            | ItemAddedToClosedContentModel
            | ItemWithFalseRemovedFromClosedContentModel
            | ItemRemovedFromOpenContentModel
            | ItemAddedIsCoveredByPartiallyOpenContentModel
            | ItemRemovedIsCoveredByPartiallyOpenContentModel
            | EnumArrayExtended
            | CombinedTypeExtended
            | ProductTypeNarrowed
            | SumTypeExtended
            | NotTypeNarrowed
    )
}

/// Confluent's wording, by group of difference types; `this` is the schema
/// being checked as the reader ("new" in a backward check).
fn describe(t: DiffType, path: &str, this: &str, other: &str) -> String {
    use DiffType::*;
    match t {
        MaximumAdded | MinimumAdded | ExclusiveMaximumAdded | ExclusiveMinimumAdded
        | MultipleOfAdded | MaxLengthAdded | MinLengthAdded | PatternAdded
        | RequiredAttributeAdded | MaxPropertiesAdded | MinPropertiesAdded
        | DependencyArrayAdded | DependencySchemaAdded | MaxItemsAdded | MinItemsAdded
        | UniqueItemsAdded | AdditionalItemsRemoved | AdditionalPropertiesRemoved => format!(
            "The keyword at path '{path}' in the {this} schema is not present in the {other} schema"
        ),
        MinLengthIncreased | MinimumIncreased | ExclusiveMinimumIncreased
        | MinPropertiesIncreased | MultipleOfExpanded | MinItemsIncreased => format!(
            "The value at path '{path}' in the {this} schema is more than its value in the {other} schema"
        ),
        MaxLengthDecreased | MaximumDecreased | MaxItemsDecreased | ExclusiveMaximumDecreased
        | MaxPropertiesDecreased => format!(
            "The value at path '{path}' in the {this} schema is less than its value in the {other} schema"
        ),
        PatternChanged | MultipleOfChanged | DependencyArrayChanged => {
            format!("The value at path '{path}' is different between the {this} and {other} schema")
        }
        AdditionalItemsNarrowed | EnumArrayNarrowed | SumTypeNarrowed
        | AdditionalPropertiesNarrowed => format!(
            "An array or combined type at path '{path}' has fewer elements in the {this} schema than the {other} schema"
        ),
        DependencyArrayExtended | ProductTypeExtended | SumTypeExtended | NotTypeExtended => format!(
            "An array or combined type at path '{path}' has more elements in the {this} schema than the {other} schema"
        ),
        TypeChanged | TypeNarrowed | CombinedTypeChanged | CombinedTypeSubschemasChanged
        | EnumArrayChanged => format!(
            "A type at path '{path}' is different between the {this} schema and the {other} schema"
        ),
        PropertyAddedToOpenContentModel | ItemAddedToOpenContentModel => format!(
            "The {other} schema has an open content model and the {this} schema has a property or item at path '{path}' which is missing in the {other} schema"
        ),
        RequiredPropertyAddedToUnopenContentModel => format!(
            "The {this} schema has an unopen content model and has a required property at path '{path}' which is missing in the {other} schema"
        ),
        PropertyRemovedFromClosedContentModel | ItemRemovedFromClosedContentModel => format!(
            "The {this} schema has a closed content model and is missing a property or item present at path '{path}' in the {other} schema"
        ),
        PropertyRemovedNotCoveredByPartiallyOpenContentModel
        | ItemRemovedNotCoveredByPartiallyOpenContentModel => format!(
            "A property or item is missing in the {this} schema but present at path '{path}' in the {other} schema and is not covered by its partially open content model"
        ),
        PropertyAddedNotCoveredByPartiallyOpenContentModel
        | ItemAddedNotCoveredByPartiallyOpenContentModel => format!(
            "The {this} schema has a property or item at path '{path}' which is missing in the {other} schema and is not covered by its partially open content model"
        ),
        SchemaAdded => format!(
            "The {this} schema has a schema at path '{path}' which is missing in the {other} schema"
        ),
        other_type => format!(
            "{} at path '{path}' between the {this} and the {other} schema",
            other_type.name()
        ),
    }
}
