//! A call's status and direction ([`CallStatus`], [`CallDirection`]) read from and written
//! to their TEXT columns as the same strings as ever, so rows carry the types.

use sqlx::any::{Any, AnyTypeInfo};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use crate::domain::{CallDirection, CallStatus};

macro_rules! text_column {
    ($name:ident) => {
        impl Type<Any> for $name {
            fn type_info() -> AnyTypeInfo {
                <String as Type<Any>>::type_info()
            }
            fn compatible(ty: &AnyTypeInfo) -> bool {
                <String as Type<Any>>::compatible(ty)
            }
        }

        impl<'r> Decode<'r, Any> for $name {
            fn decode(value: <Any as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(Self::from(<String as Decode<'r, Any>>::decode(value)?))
            }
        }

        impl<'q> Encode<'q, Any> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <Any as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                <&str as Encode<'_, Any>>::encode(self.as_str(), buf)
            }
        }
    };
}

text_column!(CallStatus);
text_column!(CallDirection);
